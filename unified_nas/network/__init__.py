"""The framework-neutral network plan: one description every materializer, FLOPs and params read.

``compile_plan(arch, input_shape, num_classes)`` turns a resolved sample into
a :class:`Plan`: nested graphs of primitive nodes (``nodes``) with explicit
parameters and shapes. ``torch_model`` and ``keras_model`` build the plan
(one builder per node kind each); ``Plan.flops`` and ``Plan.params`` count it.

Modules: ``nodes`` (node kinds: shape, FLOPs, params), ``graph`` (graphs and
plans), ``op_rules`` (vocabulary op -> nodes), ``compile`` (network rules).
No framework is imported here.
"""

from unified_nas.network.compile import compile_body, compile_plan
from unified_nas.network.graph import Graph, GraphBuilder, Node, Plan
from unified_nas.network.nodes import Shape, UnknownOp

__all__ = ["Graph", "GraphBuilder", "Node", "Plan", "Shape", "UnknownOp", "compile_body", "compile_plan"]
