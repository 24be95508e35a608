"""Plan graphs: nodes wired by value ids, with every value's shape; and the whole-network :class:`Plan`.

A :class:`Graph` is itself a node kind, so a network nests blocks (a macro
layer, a cell, a cell edge, ...) that frameworks build as one module each and
that backends such as NNI can build on their own (one candidate op of a
``LayerChoice`` is the graph of one cell edge).

Values are numbered: ``0 .. len(inputs) - 1`` are the graph's inputs, then
node ``i`` produces value ``len(inputs) + i``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from unified_nas.network.nodes import Dense, NodeOp, Shape, UnknownOp

T = TypeVar("T")


@dataclass(frozen=True)
class Node:
    """One node of a graph.

    Attributes:
        name: Unique within its graph (frameworks use it as the module/layer name).
        op: The node kind with its parameters.
        inputs: Value ids it reads, in order.
        shape: The shape it produces.
    """

    name: str
    op: NodeOp
    inputs: tuple[int, ...]
    shape: Shape


@dataclass(frozen=True)
class Graph(NodeOp):
    """A block: input shapes, nodes in execution order, and the value it returns.

    Every node is executed, including those nothing reads (see ``nodes.Keep``).
    A graph without nodes returns its input unchanged.
    """

    inputs: tuple[Shape, ...]
    nodes: tuple[Node, ...]
    output: int

    @property
    def shapes(self) -> tuple[Shape, ...]:
        """The shape of every value, by value id."""
        return self.inputs + tuple(n.shape for n in self.nodes)

    @property
    def output_shape(self) -> Shape:
        return self.shapes[self.output]

    def node(self, name: str) -> Node:
        """The node called ``name``.

        Raises:
            KeyError: If there is none.
        """
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def wired(self) -> Iterator[tuple[Node, tuple[Shape, ...]]]:
        """Each node with the shapes of its inputs."""
        shapes = self.shapes
        for n in self.nodes:
            yield n, tuple(shapes[i] for i in n.inputs)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Node, tuple[Shape, ...]]]:
        """Every primitive (non-graph) node depth first, as ``(path, node, input shapes)``."""
        for n, ins in self.wired():
            path = f"{prefix}{n.name}"
            if isinstance(n.op, Graph):
                yield from n.op.walk(path + "/")
            else:
                yield path, n, ins

    def out_shape(self, inputs: Sequence[Shape]) -> Shape:
        if tuple(inputs) != self.inputs:
            raise ValueError(
                f"block built for {', '.join(map(str, self.inputs))} applied to {', '.join(map(str, inputs))}"
            )
        return self.output_shape

    def flops(self, inputs: Sequence[Shape] = (), output: Shape | None = None) -> int:
        return sum(n.op.flops(ins, n.shape) for n, ins in self.wired())

    def params(self) -> int:
        return sum(n.op.params() for n in self.nodes)


class GraphBuilder:
    """Appends nodes, computing (and so validating) each output shape as it goes.

    Args:
        inputs: Shapes of the graph's inputs (value ids 0, 1, ...).
    """

    def __init__(self, *inputs: Shape) -> None:
        self._inputs = tuple(inputs)
        self._shapes = list(inputs)
        self._nodes: list[Node] = []
        self._names: set[str] = set()

    def shape(self, value: int) -> Shape:
        return self._shapes[value]

    def add(self, name: str, op: NodeOp, *inputs: int) -> int:
        """Appends ``op`` reading ``inputs``; returns its value id.

        A name already used gets a numeric suffix (``bn``, ``bn_1``, ...).

        Raises:
            ValueError: If the inputs do not fit the op.
        """
        unique, i = name, 0
        while unique in self._names:
            i += 1
            unique = f"{name}_{i}"
        self._names.add(unique)
        out = op.out_shape([self._shapes[v] for v in inputs])
        self._nodes.append(Node(unique, op, tuple(inputs), out))
        self._shapes.append(out)
        return len(self._shapes) - 1

    def build(self, output: int) -> Graph:
        return Graph(self._inputs, tuple(self._nodes), output)


@dataclass(frozen=True)
class Plan:
    """A whole network: the body (input -> feature vector) and the linear classifier.

    The split is where AutoKeras's classification head takes over from the
    body (``keras_model.features``).
    """

    body: Graph
    classifier: Dense

    @property
    def input_shape(self) -> Shape:
        return self.body.inputs[0]

    @property
    def feature_shape(self) -> Shape:
        return self.body.output_shape

    @property
    def output_shape(self) -> Shape:
        return self.classifier.out_shape([self.feature_shape])

    @property
    def flops(self) -> int:
        """FLOPs of one example's forward pass (convention in ``nodes``)."""
        return self.body.flops() + self.classifier.flops([self.feature_shape], self.output_shape)

    @property
    def params(self) -> int:
        """Trainable parameters."""
        return self.body.params() + self.classifier.params()


def lookup(table: Mapping[type, T], op: NodeOp, who: str) -> T:
    """The entry of ``op``'s kind in a dispatch table (exact type: a subclass is a new kind).

    Raises:
        UnknownOp: If the table has no entry for the kind.
    """
    try:
        return table[type(op)]
    except KeyError:
        raise UnknownOp(
            f"{who} has no rule for node kind {type(op).__name__} "
            f"(known: {', '.join(sorted(t.__name__ for t in table))})"
        ) from None
