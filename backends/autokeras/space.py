"""IR -> keras-tuner hyperparameters inside a custom AutoKeras block.

AutoKeras registers the search space from ONE default build and turns off
keras-tuner's discovery of conditional branches, so :class:`UnasBlock`
declares every :class:`~unified_nas.space.ParamDecl` on every build, each
under ``hp.conditional_scope`` for its conditions. Hyperparameter names are
``unas/<canonical label>``: they map back to the canonical labels exactly.

The block builds the core Keras materialization of the resolved sample up to
the classifier; :class:`UnasHead` adds the linear classifier and softmax, so
the AutoKeras model is the same network as the torch one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import autokeras as ak
import keras
import keras_tuner

from unified_nas.models.keras_model import KERNEL_INIT, features
from unified_nas.space import Categorical, FloatRange, IntRange, ParamDecl, SearchSpace, canonicalize
from unified_nas.space.parse import space_from_dict, space_to_dict

BLOCK_NAME = "unas"
PREFIX = BLOCK_NAME + "/"


def choice_codec(d: Categorical) -> tuple[list[Any], dict[Any, Any]]:
    """keras-tuner Choice values of one primitive type, and the map back to the IR's values.

    The IR allows ints and floats mixed in one choice; keras-tuner does not,
    so such choices are declared as floats and decoded back.
    """
    if {type(c) for c in d.choices} == {int, float}:
        return [float(c) for c in d.choices], {float(c): c for c in d.choices}
    return list(d.choices), {c: c for c in d.choices}


def declare(hp: keras_tuner.HyperParameters, decl: ParamDecl) -> Any:
    """Declares one parameter (returns its value, None when inactive)."""
    d = decl.dist
    with contextlib.ExitStack() as stack:
        for cond in decl.conditions:
            stack.enter_context(hp.conditional_scope(cond.label, list(cond.values)))
        # Defaults are the recipe's start point (declared or neutral): greedy and Bayesian oracles start there.
        if isinstance(d, Categorical):
            values, decode = choice_codec(d)
            v = hp.Choice(decl.label, values, default=values[d.choices.index(d.start())])
            return None if v is None else decode[v]
        if isinstance(d, IntRange):  # keras-tuner's log step is a factor: no step with log
            return hp.Int(
                decl.label,
                d.low,
                d.high,
                step=None if d.log else d.step,
                sampling="log" if d.log else "linear",
                default=d.start(),
            )
        if isinstance(d, FloatRange):
            return hp.Float(decl.label, d.low, d.high, sampling="log" if d.log else "linear", default=d.start())
    raise TypeError(f"unknown distribution {type(d).__name__}")


def declare_all(hp: keras_tuner.HyperParameters, decls: Sequence[ParamDecl]) -> dict[str, Any]:
    """Declares every parameter (active or not) and returns the canonical sample."""
    sample: dict[str, Any] = {}
    for decl in decls:
        value = declare(hp, decl)
        if decl.active(sample):
            sample[decl.label] = value
    return sample


def sample_from_values(decls: Sequence[ParamDecl], values: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's ``hyperparameters.values`` -> canonical sample (AutoKeras's own and inactive entries dropped)."""
    ours: dict[str, Any] = {}
    for decl in decls:
        name = PREFIX + decl.label
        if name in values:
            v = values[name]
            if isinstance(decl.dist, Categorical):
                v = choice_codec(decl.dist)[1].get(v, v)
            ours[decl.label] = v
    return canonicalize(decls, ours)


def declare_hyperparameters(graph: Any, hp: keras_tuner.HyperParameters) -> None:
    """Declares the hyperparameters of every :class:`UnasBlock` in ``graph`` as its build would, building nothing.

    A trial answered without training (a table, a replayed trial) needs no
    Keras model, but keras-tuner's oracles learn the trial's hyperparameters
    from the build; this is the declaring half of :meth:`UnasBlock.build`,
    under the block's name scope as AutoKeras's build wrapper sets it.

    Args:
        graph: The tuner's hypermodel (AutoKeras's ``Graph``).
        hp: The trial's hyperparameters.
    """
    for block in graph.blocks:
        if isinstance(block, UnasBlock):
            with hp.name_scope(block.name):
                declare_all(hp, block.space.decls())


@keras.saving.register_keras_serializable(package="unified_nas")
class UnasBlock(ak.Block):
    """The whole recipe search space as one AutoKeras block.

    Args:
        space: The recipe's search space (serialised with the block).
    """

    def __init__(self, space: SearchSpace | Mapping[str, Any], **kwargs: Any) -> None:
        kwargs.setdefault("name", BLOCK_NAME)  # fixed name: auto names count up within a process
        super().__init__(**kwargs)
        self.space = space if isinstance(space, SearchSpace) else space_from_dict(space)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "space": space_to_dict(self.space)}

    def build(self, hp: keras_tuner.HyperParameters, inputs: Any = None) -> Any:
        x = keras.tree.flatten(inputs)[0]
        sample = declare_all(hp, self.space.decls())
        arch = self.space.resolve(sample)
        return features(arch, x, tuple(int(n) for n in x.shape[1:]))


class _SoftmaxTargets(ak.analysers.ClassificationAnalyser):
    """AutoKeras's target check for a softmax head: one-hot targets of one column per class, two included."""

    def get_expected_shape(self) -> list[int]:
        return [self.num_classes]


@keras.saving.register_keras_serializable(package="unified_nas")
class UnasHead(ak.ClassificationHead):
    """Linear classifier + softmax with categorical cross entropy, for any number of classes.

    AutoKeras's head switches to one sigmoid unit and binary cross entropy for
    two classes; the torch model has a two-way linear classifier and softmax
    cross entropy, so this head keeps the multi-class form. No dropout of its
    own (the network applies the recipe's dropout).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dropout", 0.0)
        super().__init__(**kwargs)

    def infer_loss(self):
        return keras.losses.CategoricalCrossentropy()

    def get_analyser(self) -> Any:
        # AutoKeras's analyser expects one column for two classes (its sigmoid form) and refuses our
        # one-hot targets of two columns: "Expect the target data ... shape [1], but got [2]".
        return _SoftmaxTargets(name=self.name, multi_label=self.multi_label)

    def build(self, hp: keras_tuner.HyperParameters, inputs: Any = None) -> Any:
        x = keras.tree.flatten(inputs)[0]
        logits = keras.layers.Dense(int(self.shape[-1]), kernel_initializer=KERNEL_INIT)(x)
        return keras.layers.Softmax(name=self.name)(logits)
