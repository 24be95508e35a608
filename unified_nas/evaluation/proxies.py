"""Zero-cost proxies: training-free scores of a sample, computed on its torch twin.

Every backend's sample resolves to the same architecture and the same torch
network (``torch_model.build_model``), so scoring that network from one seeded
minibatch of the recipe's training data gives a proxy that means the same on
every backend. The baselines ``params`` and ``flops``
are always returned beside the proxies: a proxy is only worth its cost if it
ranks architectures better than they do.

Conventions shared by all proxies (each one's docstring adds its own):
    * Each proxy gets its own deep copy of the freshly initialised network, so
      a proxy that modifies weights or buffers (synflow takes absolute values
      and casts to double; a train-mode forward updates BatchNorm running
      statistics) cannot change another's value.
    * Like the reference code (Abdelfattah et al., ICLR 2021,
      github.com/SamsungLabs/zero-cost-nas), the network is in train mode, so
      BatchNorm normalises with the minibatch's statistics; synflow alone
      removes BatchNorm, as the reference does. Dropout is switched off for
      every proxy: the reference search spaces have none, and a random mask
      would make the score depend on mask noise rather than on the architecture.
    * Per-parameter proxies (synflow, snip, grad_norm) count the weights of
      ``Conv2d`` and ``Linear`` layers only, not biases or BatchNorm affine
      parameters, as zero-cost-nas does (``get_layer_metric_array``).
    * The loss is the mean cross-entropy of the logits on the minibatch, the
      training loss of :mod:`unified_nas.evaluation.train.trainer`.

Non-finite values: a proxy returns ``nan`` only where its definition is
undefined (jacov when an example's Jacobian is constant, so its correlation is
undefined), ``-inf`` where the definition's limit is (naswot with a singular
kernel: log det 0, what ``numpy.linalg.slogdet`` reports in the reference), and
``inf`` if synflow overflows double precision. Every direction is "maximize".
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unified_nas.data import Dataset
from unified_nas.evaluation.train.evaluate import isolated_rng, seed_everything
from unified_nas.models.torch_model import ACTIVATIONS, build_model, count_params, to_tensor
from unified_nas.network.flops import count_flops
from unified_nas.space import SearchSpace

__all__ = [
    "BASELINES",
    "PROXIES",
    "ProxySpec",
    "compute_proxies",
    "grad_norm",
    "jacov",
    "minibatch",
    "naswot",
    "score_model",
    "snip",
    "synflow",
]

ProxyFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]

# Parameterised layers whose weights the per-parameter proxies sum over (zero-cost-nas).
_WEIGHTED = (nn.Conv2d, nn.Linear)
# Nonlinearities whose binary input codes NASWOT collects (see :func:`naswot`).
_GATES = tuple(ACTIVATIONS.values())
# jacov's eigenvalue regulariser, k = 1e-5 in Mellor et al. v1 and zero-cost-nas.
_JACOV_K = 1e-5

BASELINES = ("params", "flops")


@dataclass(frozen=True)
class ProxySpec:
    """One registered zero-cost proxy.

    Attributes:
        fn: ``fn(model, x, y) -> float`` on a fresh network it may modify.
        direction: "maximize" for every proxy here (higher predicts better).
        description: One line for tables and reports.
        citation: The paper (and reference code) whose definition is followed.
    """

    fn: ProxyFn
    direction: str
    description: str
    citation: str


def _prepare(model: nn.Module) -> nn.Module:
    """Train mode as in the reference (BatchNorm uses batch statistics), dropout off."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    return model


def _weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight of every Conv2d and Linear layer, in module order."""
    return [m.weight for m in model.modules() if isinstance(m, _WEIGHTED)]


def _ce_weight_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, d CE / d weight) of every Conv2d/Linear layer; zero gradient for unused layers."""
    _prepare(model)
    weights = _weights(model)
    loss = nn.functional.cross_entropy(model(x), y)
    # allow_unused: a layer behind a `zero` op or cut from the output has no gradient;
    # zero-cost-nas scores it 0 (torch.zeros_like), so do we.
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return [(w.detach(), torch.zeros_like(w) if g is None else g.detach()) for w, g in zip(weights, grads, strict=True)]


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """SynFlow: sum over weights of |theta * dR/dtheta|, R the output sum of the |weight| network on ones.

    Tanaka et al., "Pruning neural networks without any data by iteratively
    conserving synaptic flow", NeurIPS 2020; as a NAS proxy, Abdelfattah et
    al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (zero-cost-nas
    ``synflow.py``, measure ``synflow`` with ``bn=False``). Choices, as there:
    every parameter and buffer is replaced by its absolute value, BatchNorm
    layers are removed (replaced by identity: the reference builds its copy
    with ``bn=False``), the network is cast to double (products of many
    layers overflow float32) and fed ONE example of ones shaped like the
    data; R = sum of the logits; the score sums |theta * dR/dtheta| over the
    weights of Conv2d and Linear layers. The data's values are not used
    (only the input shape): synflow is data-independent by construction.

    Args:
        model: A fresh network (modified in place: absolute weights, double, no BatchNorm).
        x: The minibatch (only its per-example shape is used).
        y: Unused (kept for the common signature).

    Returns:
        The score (``inf`` if it overflows double precision).
    """
    del y
    _remove_batchnorm(model)
    _prepare(model)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    model.double()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64)
    weights = _weights(model)
    grads = torch.autograd.grad(model(ones).sum(), weights, allow_unused=True)
    pairs = [(w.detach(), g) for w, g in zip(weights, grads, strict=True) if g is not None]
    return float(sum(float((w * g).abs().sum()) for w, g in pairs))


def _remove_batchnorm(model: nn.Module) -> None:
    """Replaces every BatchNorm module by identity (in place), like zero-cost-nas' ``bn=False`` copy."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """SNIP connection sensitivity: sum over weights of |dL/dtheta * theta|, L the minibatch cross-entropy.

    Lee et al., "SNIP: Single-shot network pruning based on connection
    sensitivity", ICLR 2019; as a NAS proxy, Abdelfattah et al., ICLR 2021
    (zero-cost-nas ``snip.py``). The reference multiplies each weight by a
    mask of ones and takes |dL/dmask|; at mask = 1 that is exactly
    |dL/dtheta * theta|, which is computed here directly. Weights of Conv2d
    and Linear layers, network in train mode (BatchNorm batch statistics).

    Args:
        model: A fresh network.
        x: The minibatch inputs (NCHW or flat).
        y: Its integer labels.

    Returns:
        The score.
    """
    return float(sum(float((w * g).abs().sum()) for w, g in _ce_weight_grads(model, x, y)))


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Gradient norm: sum over layers of the L2 (Frobenius) norm of dL/dW, L the minibatch cross-entropy.

    Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021
    (zero-cost-nas ``grad_norm.py``: ``layer.weight.grad.norm()`` per layer,
    summed). Weights of Conv2d and Linear layers (biases excluded), network in
    train mode (BatchNorm batch statistics).

    Args:
        model: A fresh network.
        x: The minibatch inputs.
        y: Its integer labels.

    Returns:
        The score.
    """
    return float(sum(float(g.norm()) for _, g in _ce_weight_grads(model, x, y)))


def jacov(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Jacobian covariance: how uncorrelated the input-Jacobians of the minibatch's examples are.

    Mellor et al., "Neural Architecture Search without Training", arXiv v1
    (2020) score, as in zero-cost-nas ``jacob_cov.py`` (Abdelfattah et al.,
    ICLR 2021). J_i = d(sum of all logits)/d x_i (the reference's
    ``y.backward(ones_like(y))``), flattened; C = the correlation matrix of
    the J_i (``np.corrcoef``); with eigenvalues s of C and k = 1e-5,
    score = -sum(log(s + k) + 1 / (s + k)). Train mode (BatchNorm batch
    statistics), as the reference. Eigenvalues come from ``eigvalsh`` (C is
    symmetric) instead of the reference's ``eig``: the same values without
    spurious complex parts.

    Args:
        model: A fresh network.
        x: The minibatch inputs.
        y: Unused (the label-free v1 score).

    Returns:
        The score, or ``nan`` if an example's Jacobian is constant (its
        correlation is undefined; the reference's ``eig`` fails there and
        it returns ``nan`` as well).
    """
    del y
    _prepare(model)
    xg = x.detach().clone().requires_grad_(True)
    out = model(xg)
    (jac,) = torch.autograd.grad(out, xg, torch.ones_like(out))
    rows = jac.reshape(jac.shape[0], -1).double().numpy()
    if np.any(rows.std(axis=1) == 0):
        return math.nan
    corr = np.corrcoef(rows)
    s = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(s + _JACOV_K) + 1.0 / (s + _JACOV_K)))


def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """NASWOT: log-determinant of the Hamming kernel of the minibatch's binary activation codes.

    Mellor et al., "Neural Architecture Search without Training", ICML 2021
    (v2; github.com/BayesWatch/nas-without-training, ``score_networks.py``).
    Each nonlinearity's input is binarised (c = input > 0) per example and
    unit; K[i, j] = sum over units of [c_i == c_j] = N_A - d_H(c_i, c_j),
    accumulated as ``c @ c.T + (1 - c) @ (1 - c).T`` over every nonlinearity;
    score = log|det K| from ``slogdet`` (the reference's ``hooklogdet``).
    Mellor et al. define the codes for ReLU; GELU, SiLU and tanh units are
    coded here by the same sign of their input (the region a ReLU in their
    place would select), so architectures mixing them stay comparable. One
    train-mode forward pass (the reference's second forward, after a
    backward pass that only marks the units to count: every unit on the
    path to the output, which is every unit our networks run).

    Args:
        model: A fresh network.
        x: The minibatch inputs.
        y: Unused (the score is label-free).

    Returns:
        The score; ``-inf`` if K is singular, i.e. log 0 (two examples with
        identical codes, fewer units than examples, or no nonlinearity).
        The reference passes on whatever ``slogdet`` rounds to there.
    """
    del y
    _prepare(model)
    n = x.shape[0]
    kernel = np.zeros((n, n), dtype=np.float64)

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        # Codes are 0/1, so the float64 kernel of integer counts is exact.
        c = (inputs[0].detach().reshape(n, -1) > 0).double()
        kernel[...] += (c @ c.T + (1.0 - c) @ (1.0 - c).T).numpy()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _GATES)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    # K has integer entries, so det K is an integer: either 0 or >= 1. Near
    # singularity slogdet returns rounding noise (a large negative or even
    # positive "log det", which the reference passes on as the score); the
    # rank decides exactly which case holds, and a singular K gets log 0.
    if np.linalg.matrix_rank(kernel) < n:
        return -math.inf
    return float(np.linalg.slogdet(kernel)[1])


PROXIES: dict[str, ProxySpec] = {
    "synflow": ProxySpec(
        synflow,
        "maximize",
        "synaptic flow: sum |theta * dR/dtheta| of the |weight| network on an input of ones",
        "Tanaka et al., NeurIPS 2020; Abdelfattah et al., ICLR 2021 (zero-cost-nas synflow)",
    ),
    "snip": ProxySpec(
        snip,
        "maximize",
        "connection sensitivity: sum |theta * dL/dtheta| of the minibatch cross-entropy",
        "Lee et al., ICLR 2019; Abdelfattah et al., ICLR 2021 (zero-cost-nas snip)",
    ),
    "grad_norm": ProxySpec(
        grad_norm,
        "maximize",
        "sum over layers of the L2 norm of the cross-entropy gradient of the weights",
        "Abdelfattah et al., ICLR 2021 (zero-cost-nas grad_norm)",
    ),
    "jacov": ProxySpec(
        jacov,
        "maximize",
        "Jacobian covariance: -sum(log(s+k) + 1/(s+k)) over eigenvalues of the input-Jacobian correlations",
        "Mellor et al., arXiv 2006.04647 v1; Abdelfattah et al., ICLR 2021 (zero-cost-nas jacob_cov)",
    ),
    "naswot": ProxySpec(
        naswot,
        "maximize",
        "log det of the Hamming kernel of binary activation codes",
        "Mellor et al., ICML 2021 (nas-without-training, v2 score)",
    ),
}


def minibatch(data: Dataset, seed: int, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded minibatch the proxies use: a fixed, seed-determined subset of the training split.

    Drawn from ``numpy.random.default_rng(seed)`` (not the global RNG), so it
    is the same for every sample and every backend with that seed, and
    drawing it consumes no global randomness.

    Args:
        data: The split data set.
        seed: The run seed.
        batch_size: Examples (all of the training split if it has fewer).

    Returns:
        (inputs as a torch tensor, NCHW for images; int64 labels).

    Raises:
        ValueError: If ``batch_size`` < 2 (the kernels compare examples).
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2, got {batch_size}")
    n = len(data.x_train)
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(batch_size, n), replace=False))
    x = to_tensor(np.asarray(data.x_train[idx], dtype=np.float32))
    y = torch.from_numpy(np.asarray(data.y_train[idx], dtype=np.int64))
    return x, y


def _check_names(names: Sequence[str] | None) -> list[str]:
    chosen = list(PROXIES) if names is None else list(names)
    unknown = [n for n in chosen if n not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxies {', '.join(unknown)}; known: {', '.join(PROXIES)}")
    return chosen


def score_model(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, names: Sequence[str] | None = None
) -> dict[str, float]:
    """The proxies of an already built network on a given minibatch (each on its own deep copy).

    Args:
        model: The network; it is not modified.
        x: Minibatch inputs (NCHW for images).
        y: Its int64 labels.
        names: Proxies to compute (default: all of :data:`PROXIES`).

    Returns:
        name -> value, in the order of ``names``.

    Raises:
        ValueError: If a name is not registered.
    """
    return {name: PROXIES[name].fn(copy.deepcopy(model), x, y) for name in _check_names(names)}


def compute_proxies(
    space: SearchSpace,
    sample: Mapping[str, Any],
    data: Dataset,
    seed: int,
    names: Sequence[str] | None = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """Zero-cost proxies of a sample's torch twin, with ``params`` and ``flops`` beside them.

    The network is built and initialised under ``seed`` exactly as
    ``train.evaluate.train_sample`` builds it, inside ``isolated_rng`` so the
    caller's global torch/numpy/random states are unchanged. The same
    (space, sample, data, seed, names, batch_size) gives identical numbers.

    Args:
        space: The recipe's search space.
        sample: A canonical sample of ``space``.
        data: The split data set.
        seed: Seeds both the weights and the minibatch (:func:`minibatch`).
        names: Proxies to compute (default: all of :data:`PROXIES`).
        batch_size: Minibatch size (64, zero-cost-nas' default).

    Returns:
        name -> value for each proxy, then ``params`` and ``flops`` (as floats).

    Raises:
        ValueError: If a name is unknown, ``batch_size`` < 2, or the
            architecture does not fit the data.
        SampleError: If ``sample`` is not in ``space``.
    """
    chosen = _check_names(names)
    arch = space.resolve(sample)
    x, y = minibatch(data, seed, batch_size)
    with isolated_rng():
        seed_everything(seed)
        model = build_model(arch, data.input_shape, data.num_classes)
        # No proxy draws random numbers (dropout is off), but the isolation
        # also keeps any future one from leaking into the caller's RNGs.
        values = score_model(model, x, y, chosen)
    values["params"] = float(count_params(model))
    values["flops"] = float(count_flops(arch, data.input_shape, data.num_classes))
    return values
