"""The weight bank of a weight-sharing supernet, and the subnets that read it.

A subnet is the network the torch builder makes of one sample
(:func:`~unified_nas.models.torch_model.build_model`), run with
``torch.func.functional_call`` on slices of shared bank tensors instead of
weights of its own, so gradients flow into the bank. Which tensor a parameter
reads is its bank key (:mod:`.keys`): its position and the candidate op there.

Width choices share: one tensor per key, allocated at the largest shape seen,
and a subnet reads its leading slice ``[:out, :in, ...]`` (OFA, BigNAS). Only
the two channel dimensions may differ between subnets at one key; a kernel
dimension that differs means two ops share a key, which is refused.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from unified_nas.core.errors import SampleError
from unified_nas.evaluation.devices import current_device
from unified_nas.evaluation.supernet.keys import bank_key, init_kind, is_width_label, op_sites
from unified_nas.models.torch_model import Network, build_model
from unified_nas.network import compile_plan
from unified_nas.space import SearchSpace
from unified_nas.space.spaces import ArchConfig

#: Version of :meth:`WeightBank.state_dict`'s layout.
STATE_FORMAT = 1


def _fits(param: torch.Tensor, shape: Sequence[int]) -> bool:
    return all(s <= h for s, h in zip(shape, param.shape, strict=True))


def _key_seed(seed: int, key: str) -> int:
    # A key's initial values depend on the seed and the key only, not on which subnet asked for it first.
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:7], "big")


class WeightBank:
    """The shared tensors, one per bank key, allocated on first use.

    Args:
        seed: Seeds every tensor's initial values (per key, see :func:`init_kind`).
        device: Where the tensors live.
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed, self.device = seed, device
        self.entries: dict[str, nn.Parameter] = {}
        self._kinds: dict[str, str] = {}
        self._scratch: dict[str, nn.Parameter] = {}  # what scoring needed that the bank lacks (see ensure)
        self.grown: list[nn.Parameter] = []  # grown since the trainer last looked (its optimizer state must follow)

    def _fresh(self, key: str, shape: Sequence[int]) -> torch.Tensor:
        t = torch.empty(tuple(shape))
        kind = self._kinds[key]
        if kind == "glorot":
            nn.init.xavier_uniform_(t, generator=torch.Generator().manual_seed(_key_seed(self.seed, key)))
        else:
            t.fill_(1.0 if kind == "ones" else 0.0)
        return t.to(self.device)

    def ensure(self, key: str, shape: Sequence[int], kind: str, scratch: bool = False) -> None:
        """Makes ``key`` hold at least ``shape``: allocates it, or grows its channel dimensions keeping its values.

        Args:
            key: The bank key.
            shape: The shape a subnet reads (or a bound of it).
            kind: How a new tensor is initialised (see :func:`init_kind`).
            scratch: Leave the bank as it is: a missing or too small tensor is made in a scratch area that
                :meth:`view` reads but the state, the digest and training never see (scoring uses it, so
                that it never changes the bank).

        Raises:
            ValueError: If the key exists with another rank or another size in a dimension past the second
                (two ops would share it).
        """
        param = self.entries.get(key)
        if param is None:
            self._kinds.setdefault(key, kind)
            if scratch:
                if key not in self._scratch or not _fits(self._scratch[key], shape):
                    self._scratch[key] = nn.Parameter(self._fresh(key, shape), requires_grad=False)
            else:
                self.entries[key] = nn.Parameter(self._fresh(key, shape))
            return
        have = tuple(param.shape)
        if len(have) != len(shape) or have[2:] != tuple(shape[2:]):
            raise ValueError(f"bank key {key!r} holds {have}, asked for {tuple(shape)}: only channels may differ")
        if _fits(param, shape):
            return
        grown = self._fresh(key, [max(s, h) for s, h in zip(shape, have, strict=True)])
        grown[tuple(slice(0, h) for h in have)] = param.detach()
        if scratch:
            self._scratch[key] = nn.Parameter(grown, requires_grad=False)
            return
        param.data = grown  # the same Parameter: an optimizer holding it keeps it
        self.grown.append(param)

    def holds(self, key: str, shape: Sequence[int]) -> bool:
        """Whether the bank (not its scratch area) has ``key`` at ``shape`` or larger."""
        param = self.entries.get(key)
        return param is not None and len(param.shape) == len(shape) and _fits(param, shape)

    def view(self, key: str, shape: Sequence[int]) -> torch.Tensor:
        """The leading slice of ``key`` of ``shape`` (a view: gradients flow into the bank)."""
        param = self.entries.get(key)
        if param is None or not _fits(param, shape):
            param = self._scratch[key]
        if tuple(param.shape) == tuple(shape):
            return param
        return param[tuple(slice(0, n) for n in shape)]

    def parameters(self) -> Iterator[nn.Parameter]:
        return iter(self.entries.values())

    def state_dict(self) -> dict[str, Any]:
        """The bank as plain data: format, seed, and each key's init kind and tensor (a CPU copy)."""
        return {
            "format": STATE_FORMAT,
            "seed": self.seed,
            "kinds": {k: self._kinds[k] for k in self.entries},
            "tensors": {k: p.detach().cpu().clone() for k, p in self.entries.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replaces the bank by one :meth:`state_dict` returned.

        Raises:
            ValueError: On another format, or kinds and tensors that name different keys.
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"supernet bank format {state.get('format')!r}, expected {STATE_FORMAT}")
        kinds, tensors = dict(state["kinds"]), dict(state["tensors"])
        if set(kinds) != set(tensors):
            raise ValueError("supernet bank state: kinds and tensors name different keys")
        self.seed = int(state["seed"])
        self._kinds = kinds
        self.entries = {k: nn.Parameter(t.detach().clone().to(self.device)) for k, t in tensors.items()}
        self._scratch = {}
        self.grown = []

    def digest(self) -> str:
        """SHA-256 of every key, shape and value, in key order (a checksum of the trained bank)."""
        h = hashlib.sha256()
        for key in sorted(self.entries):
            t = self.entries[key].detach().cpu().contiguous()
            h.update(f"{key}:{tuple(t.shape)}:{t.dtype};".encode())
            h.update(t.numpy().tobytes())
        return h.hexdigest()


class Subnet(nn.Module):
    """One sample's network running on bank slices.

    Args:
        net: The built network; its own parameters are only a scratch copy
            (:meth:`inherit`), its BatchNorm statistics are this subnet's own.
        bank: The shared tensors.
        keys: Parameter name -> (bank key, shape).
    """

    def __init__(self, net: nn.Module, bank: WeightBank, keys: Mapping[str, tuple[str, tuple[int, ...]]]) -> None:
        super().__init__()
        self.net = net
        self.bank = bank
        self.keys = dict(keys)
        # What the bank must hold for this subnet: key -> (shape, init kind); set by Supernet.subnet.
        self.needs: dict[str, tuple[tuple[int, ...], str]] = {}

    def bank_params(self) -> dict[str, torch.Tensor]:
        """Parameter name -> the bank slice it reads."""
        return {name: self.bank.view(key, shape) for name, (key, shape) in self.keys.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(self.net, self.bank_params(), (x,))
        return out

    @torch.no_grad()
    def inherit(self) -> nn.Module:
        """Copies the bank slices into ``net``'s own parameters and returns ``net`` (the bank is not touched)."""
        own = dict(self.net.named_parameters())
        for name, value in self.bank_params().items():
            own[name].copy_(value)
        return self.net


class Supernet:
    """A weight-sharing supernet over a search space: a :class:`WeightBank` and the subnets of samples.

    Args:
        space: The recipe's search space (macro, cell or dense cell).
        input_shape: One example's shape, channels last.
        num_classes: Classifier outputs.
        seed: Seeds the bank's initial values.
        device: Where the bank and subnets live (default: the run's device).
        cache_size: Built subnets kept (least recently used dropped); a dropped one is rebuilt on demand,
            with fresh BatchNorm statistics.
    """

    def __init__(
        self,
        space: SearchSpace,
        input_shape: Sequence[int],
        num_classes: int,
        seed: int = 0,
        device: torch.device | str | None = None,
        cache_size: int = 64,
    ) -> None:
        self.space = space
        self.decls = space.decls()
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.device = torch.device(current_device() if device is None else device)
        self.bank = WeightBank(seed, self.device)
        self.cache_size = cache_size
        self._cache: OrderedDict[Any, Subnet] = OrderedDict()

    @property
    def seed(self) -> int:
        return self.bank.seed

    def _widest_shapes(self, sample: Mapping[str, Any], arch: ArchConfig) -> dict[str, tuple[int, ...]]:
        # The shapes, by bank key, of the sample with every width at its largest choice: channel counts only grow
        # with widths, so they bound those of every sample with the same ops and the bank rarely grows later.
        wide = dict(sample)
        for d in self.decls:
            if d.label in wide and is_width_label(d.label):
                wide[d.label] = max(d.dist.values())
        try:
            widest = self.space.resolve(wide)
            if widest == arch:
                return {}
            with torch.device("meta"):  # shapes only, nothing allocated
                net = Network(compile_plan(widest, self.input_shape, self.num_classes))
        except (SampleError, ValueError):
            return {}  # e.g. an odd widest channel count a DARTS reduction refuses: the bank grows on demand instead
        sites = op_sites(widest)
        return {bank_key(n, sites): tuple(p.shape) for n, p in net.named_parameters()}

    def subnet(self, sample: Mapping[str, Any], scratch: bool = False) -> Subnet:
        """The subnet of a canonical sample (built once, then cached), with the bank tensors it reads.

        Args:
            sample: A canonical sample of the space.
            scratch: Read-only use (scoring): tensors the bank lacks are made outside it
                (see :meth:`WeightBank.ensure`).

        Raises:
            SampleError: If ``sample`` is not in the space.
            ValueError: If the architecture does not fit the data.
        """
        arch = self.space.resolve(sample)
        cache_key = (arch.network, arch.training.dropout)  # what the network depends on
        sub = self._cache.get(cache_key)
        if sub is None:
            # Not initialised (build_model's Glorot init would be overwritten: the subnet runs on bank tensors, and
            # inherit copies them in), and moved only off the CPU: both walk every module, for every new subnet.
            net = Network(compile_plan(arch, self.input_shape, self.num_classes))
            if self.device.type != "cpu":
                net = net.to(self.device)
            sites = op_sites(arch)
            keys = {n: (bank_key(n, sites), tuple(p.shape)) for n, p in net.named_parameters()}
            # Training allocates at the widest shapes so the bank rarely grows. Scoring reads the trained bank
            # and needs no bound, unless a tensor is missing there: its scratch copy is then made at the widest
            # shape too, so that its values do not depend on which sample asked for it first.
            missing = any(not self.bank.holds(key, shape) for key, shape in keys.values())
            bound = self._widest_shapes(sample, arch) if not scratch or missing else {}
            sub = Subnet(net, self.bank, keys)
            for name, (key, shape) in keys.items():
                wide = bound.get(key, shape)
                fits = len(wide) == len(shape) and wide[2:] == shape[2:]
                target = tuple(max(a, b) for a, b in zip(shape, wide, strict=True)) if fits else shape
                sub.needs[key] = (target, init_kind(net, name))
            self._cache[cache_key] = sub
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(cache_key)
        for key, (shape, kind) in sub.needs.items():
            self.bank.ensure(key, shape, kind, scratch)
        return sub

    def materialize(self, sample: Mapping[str, Any]) -> nn.Module:
        """A standalone network of ``sample`` holding copies of its bank slices (to finetune or export).

        Raises:
            SampleError: If ``sample`` is not in the space.
        """
        sub = self.subnet(sample, scratch=True)
        net = build_model(self.space.resolve(sample), self.input_shape, self.num_classes).to(self.device)
        net.load_state_dict(sub.inherit().state_dict())
        return net

    def state_dict(self) -> dict[str, Any]:
        """The bank (see :meth:`WeightBank.state_dict`); subnets and their statistics are rebuilt on demand."""
        return self.bank.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Loads a bank :meth:`state_dict` returned; cached subnets are dropped (they read the old bank)."""
        self.bank.load_state_dict(state)
        self._cache.clear()

    def digest(self) -> str:
        """Checksum of the bank (:meth:`WeightBank.digest`)."""
        return self.bank.digest()
