"""A weight-sharing supernet evaluator's core: bank keys (:mod:`.keys`), the weight bank (:mod:`.bank`), its training and scoring (:mod:`.train`).

One supernet is trained once per run; each trial then scores its sample's
subnet with inherited weights instead of training a network of its own.
"""

from unified_nas.evaluation.supernet.bank import Subnet, Supernet, WeightBank
from unified_nas.evaluation.supernet.keys import bank_key, op_sites
from unified_nas.evaluation.supernet.train import (
    extreme_sample,
    recalibrate_batchnorm,
    score,
    step_paths,
    train_supernet,
)

__all__ = [
    "Subnet",
    "Supernet",
    "WeightBank",
    "bank_key",
    "extreme_sample",
    "op_sites",
    "recalibrate_batchnorm",
    "score",
    "step_paths",
    "train_supernet",
]
