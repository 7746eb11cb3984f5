r"""The layers of a torch model, in execution order, and how to run them one by one.

:func:`model_layers` is what :func:`symcorr.networks.propagation.layers` returns:
``(name, module)`` pairs, one per layer that :func:`~symcorr.networks.propagation.propagate`
moves the cumulants through.

* An ``nn.Sequential`` gives its children (nested ``nn.Sequential`` flattened,
  names the dotted paths ``'0'``, ``'3.1'``).
* A module symcorr has a rule for, or any other module of ``torch.nn``, is one
  layer ``'0'`` (refused later, naming it, if it has no rule).
* Any other model -- a custom ``nn.Module`` whose ``forward`` calls its
  submodules and torch functions -- is traced with ``torch.fx`` (modules with a
  rule stay leaves) and must be a *chain*: every operation takes the previous
  one's output as its only tensor input. Each ``call_module`` node is the
  submodule itself (named by its qualified name); the functional forms
  ``torch.relu``/``F.relu``/``x.relu()``, ``F.leaky_relu``, ``F.gelu``,
  ``torch.tanh``, ``torch.sigmoid``, ``F.silu``, ``F.softplus``, ``F.elu``,
  ``torch.erf``, ``torch.flatten``/``x.flatten``, ``F.dropout``,
  ``x.view``/``x.reshape`` of the features (batch size ``x.size(0)``,
  ``x.shape[0]`` or ``-1`` first) and ``x.contiguous()`` become the equivalent
  modules (named by the node). Anything else -- residual additions,
  concatenation, max pooling, layer norm, attention, a parameter used
  directly, an output used twice -- is refused naming the operation and the
  node. Custom modules inside an ``nn.Sequential`` are traced the same way.

:func:`layer_chain` runs the model one layer at a time for Monte Carlo
(:mod:`symcorr.networks.montecarlo`): the modules of an ``nn.Sequential`` in
turn, and a traced model through its ``torch.fx`` graph
(:class:`torch.fx.Interpreter`), so the samples go through the model's own
operations, not through the modules this file substitutes for its functional
calls, and every chain node's output is recorded as it is computed.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

from symcorr.networks.layers import rule_for


class FeatureReshape(nn.Module):
    r"""``x.reshape(len(x), *sizes)``: a new shape for the features of each sample (one size may be
    ``-1``), what a traced ``x.view(x.size(0), ...)`` is. With ``batch_inferred`` the batch size was
    written ``-1`` (``x.view(-1, 784)``), which keeps the batch only if ``sizes`` hold every feature."""

    def __init__(self, sizes, batch_inferred: bool = False):
        super().__init__()
        self.sizes = tuple(int(size) for size in sizes)
        self.batch_inferred = bool(batch_inferred)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.sizes)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}" + (", batch_inferred=True" if self.batch_inferred else "")


def _has_rule(module) -> bool:
    try:
        rule_for(module)
    except TypeError:
        return False
    return True


def _is_torch_module(module) -> bool:
    return type(module).__module__.startswith(("torch.nn.", "torch.ao.nn."))


class _ChainTracer(fx.Tracer):
    """Keeps every module with a layer rule (e.g. symcorr's activations) as a leaf."""

    def is_leaf_module(self, module, qualified_name) -> bool:
        return _has_rule(module) or super().is_leaf_module(module, qualified_name)


# ---------------------------------------------------------------------------
# functional forms -> modules
# ---------------------------------------------------------------------------

def _argument(node, index: int, name: str, default):
    """Argument ``name`` (position ``index``, the tensor being 0) of a call node, or ``default``."""
    value = node.kwargs.get(name, node.args[index] if len(node.args) > index else default)
    if isinstance(value, fx.Node):
        raise TypeError(f"node {node.name}: its argument {name} is computed ({value.name}), not a constant")
    return value


def _erf(node):
    from symcorr.networks.modules import Erf

    return Erf()


def _dropout(node):
    module = nn.Dropout(_argument(node, 1, "p", 0.5))
    return module.train(bool(_argument(node, 2, "training", True)))


def _flatten(node):
    return nn.Flatten(_argument(node, 1, "start_dim", 0), _argument(node, 2, "end_dim", -1))


#: functions (``call_function`` targets) and their module equivalents
FUNCTIONS = {
    torch.relu: lambda node: nn.ReLU(),
    F.relu: lambda node: nn.ReLU(),
    F.leaky_relu: lambda node: nn.LeakyReLU(_argument(node, 1, "negative_slope", 0.01)),
    F.gelu: lambda node: nn.GELU(approximate=_argument(node, 1, "approximate", "none")),
    torch.tanh: lambda node: nn.Tanh(),
    F.tanh: lambda node: nn.Tanh(),
    torch.sigmoid: lambda node: nn.Sigmoid(),
    F.sigmoid: lambda node: nn.Sigmoid(),
    F.silu: lambda node: nn.SiLU(),
    F.softplus: lambda node: nn.Softplus(_argument(node, 1, "beta", 1.0), _argument(node, 2, "threshold", 20.0)),
    F.elu: lambda node: nn.ELU(_argument(node, 1, "alpha", 1.0)),
    torch.erf: _erf,
    torch.special.erf: _erf,
    torch.flatten: _flatten,
    F.dropout: _dropout,
}

#: tensor methods (``call_method`` targets) and their module equivalents (``view``/``reshape`` apart)
METHODS = {
    "relu": lambda node: nn.ReLU(),
    "tanh": lambda node: nn.Tanh(),
    "sigmoid": lambda node: nn.Sigmoid(),
    "erf": _erf,
    "flatten": _flatten,
    "contiguous": lambda node: nn.Identity(),
}

#: operations refused with a reason (function or method name -> what it is)
REFUSED = {
    "add": "addition (e.g. a residual connection)", "iadd": "addition (e.g. a residual connection)",
    "sub": "subtraction", "mul": "multiplication", "matmul": "matrix product", "truediv": "division",
    "cat": "concatenation", "stack": "stacking", "max_pool1d": "max pooling", "max_pool2d": "max pooling",
    "max_pool3d": "max pooling", "layer_norm": "layer norm", "group_norm": "group norm",
    "scaled_dot_product_attention": "attention", "softmax": "softmax", "getitem": "indexing",
}


def _operation(node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", repr(target))


def _refusal(node, why: str) -> TypeError:
    described = REFUSED.get(_operation(node))
    what = f"{_operation(node)} ({described})" if described else _operation(node)
    return TypeError(f"node {node.name!r} of the traced forward ({node.op} {what}) {why}; propagate handles a chain "
                     "of single-input layers (module docstring of symcorr.networks.tracing)")


def _is_shape_query(node) -> bool:
    """``x.size(...)``, ``x.dim()``, ``x.shape`` and items of those: integers, not features."""
    if node.op == "call_method" and node.target in ("size", "dim"):
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",):
        return True
    return (node.op == "call_function" and node.target is operator.getitem
            and isinstance(node.args[0], fx.Node) and _is_shape_query(node.args[0]))


def _is_batch_size(value, source) -> bool:
    """Whether ``value`` (a node) is the size of axis 0 of ``source``."""
    if not isinstance(value, fx.Node):
        return False
    if value.op == "call_method" and value.target == "size":
        return value.args[0] is source and (value.args[1:] == (0,) or value.kwargs == {"dim": 0})
    if value.op == "call_function" and value.target is operator.getitem and value.args[1] == 0:
        inner = value.args[0]
        return isinstance(inner, fx.Node) and inner.args[0] is source and (
            (inner.op == "call_method" and inner.target == "size" and len(inner.args) == 1)
            or (inner.op == "call_function" and inner.target is getattr))
    return False


def _reshape(node, source):
    sizes = node.args[1:] if node.op == "call_method" else node.args[1]
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        sizes = tuple(sizes[0])
    if not sizes:
        raise _refusal(node, "has no sizes")
    batch, rest = sizes[0], sizes[1:]
    if not all(isinstance(size, int) for size in rest) or not (batch == -1 or _is_batch_size(batch, source)):
        raise _refusal(node, "reshapes with sizes other than the batch size (x.size(0), x.shape[0] or -1) "
                             "followed by integers")
    return FeatureReshape(rest, batch_inferred=batch == -1)


def _module_of(node, graph_module, source):
    if node.op == "call_module":
        module = graph_module.get_submodule(node.target)
        try:
            rule_for(module)
        except TypeError as error:
            raise TypeError(f"node {node.name!r} of the traced forward (module {node.target}) {error}") from None
        return module
    if node.op == "get_attr":
        raise _refusal(node, "uses a parameter or buffer of the model directly")
    if node.op == "call_method" and node.target in ("view", "reshape"):
        return _reshape(node, source)
    if node.op == "call_function" and node.target is torch.reshape:
        return _reshape(node, source)
    table = METHODS if node.op == "call_method" else FUNCTIONS
    try:
        factory = table[node.target]
    except (KeyError, TypeError):
        raise _refusal(node, "is not supported") from None
    return factory(node)


# ---------------------------------------------------------------------------
# chains
# ---------------------------------------------------------------------------

@dataclass
class _GraphStep:
    """A traced model: its graph module, its layers and the nodes whose outputs they are."""

    graph_module: fx.GraphModule
    entries: list = field(default_factory=list)
    nodes: list = field(default_factory=list)


def trace(model, prefix: str = "") -> _GraphStep:
    """``model`` traced with ``torch.fx`` into a chain of layers (module docstring); a :class:`TypeError`
    naming the operation and the node for anything that is not a chain of supported operations."""
    tracer = _ChainTracer()
    try:
        graph = tracer.trace(model)
    except Exception as error:  # noqa: BLE001 -- torch.fx raises many kinds (TraceError, TypeError, ...)
        raise TypeError(f"{type(model).__name__} is not an nn.Sequential and torch.fx cannot trace its forward "
                        f"({type(error).__name__}: {error}): write it as an nn.Sequential of supported modules") from None
    graph_module = fx.GraphModule(tracer.root, graph)
    step = _GraphStep(graph_module)
    inputs = [node for node in graph.nodes if node.op == "placeholder"]
    if len(inputs) != 1:
        raise TypeError(f"the forward of {type(model).__name__} takes {len(inputs)} inputs; propagate needs one")
    current = inputs[0]
    for node in graph.nodes:
        if node.op == "placeholder" or _is_shape_query(node) or (node.op == "get_attr" and not node.users):
            continue  # inputs, integers describing shapes, attributes the tracer touched but nothing uses
        if node.op == "output":
            if node.args[0] is not current:
                raise _refusal(node, f"returns {node.args[0]!r}, not the output of the last layer {current.name!r}")
            break
        tensors = [n for n in node.all_input_nodes if not _is_shape_query(n)]
        if len(tensors) > 1:
            raise _refusal(node, "combines the outputs " + ", ".join(repr(n.name) for n in tensors))
        if tensors != [current] and node.op != "get_attr":
            taken = repr(tensors[0].name) if tensors else "no tensor"
            raise _refusal(node, f"takes {taken} rather than the output of the previous layer {current.name!r} "
                                 "(the forward branches)")
        module = _module_of(node, graph_module, current)
        name = node.target if node.op == "call_module" else node.name
        step.entries.append((prefix + name, module))
        step.nodes.append(node)
        current = node
    if not step.entries:
        raise TypeError(f"the forward of {type(model).__name__} has no layers")
    return step


@dataclass
class _ModuleStep:
    name: str
    module: object

    @property
    def entries(self):
        return [(self.name, self.module)]


def _steps(model) -> list:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module (an nn.Sequential), got {type(model).__name__}")
    if not isinstance(model, nn.Sequential):
        if _has_rule(model) or _is_torch_module(model):
            return [_ModuleStep("0", model)]
        return [trace(model)]
    steps = []

    def walk(container, prefix):
        for name, module in container.named_children():
            path = f"{prefix}{name}"
            if isinstance(module, nn.Sequential):
                walk(module, path + ".")
            elif _has_rule(module) or _is_torch_module(module):
                steps.append(_ModuleStep(path, module))
            else:
                steps.append(trace(module, path + "."))

    walk(model, "")
    return steps


def model_layers(model) -> list[tuple[str, object]]:
    """The layers of ``model`` as ``(name, module)`` in execution order (module docstring)."""
    return [entry for step in _steps(model) for entry in step.entries]


class _Recorder(fx.Interpreter):
    """Runs a graph module and hands each chain node's output to ``record`` as it is computed."""

    def __init__(self, step: _GraphStep, record, offset: int):
        super().__init__(step.graph_module)
        self._positions = {node.name: offset + k for k, node in enumerate(step.nodes)}
        self._record = record

    def run_node(self, node):
        value = super().run_node(node)
        position = self._positions.get(node.name)
        if position is not None:
            self._record(position, value)
        return value


class LayerChain:
    """``model`` run layer by layer: ``entries`` as :func:`model_layers`; :meth:`run` pushes a batch
    through and calls ``record(index, output)`` for every layer in order."""

    def __init__(self, model):
        self._steps = _steps(model)
        self.entries = [entry for step in self._steps for entry in step.entries]

    def run(self, x, record):
        index = 0
        for step in self._steps:
            if isinstance(step, _ModuleStep):
                try:
                    x = step.module(x)
                except Exception as error:  # name the layer that failed
                    raise RuntimeError(f"layer {step.name} ({type(step.module).__name__}) failed on a batch: "
                                       f"{error}") from error
                record(index, x)
            else:
                x = _Recorder(step, record, index).run(x)
            index += len(step.entries)
        return x


def layer_chain(model) -> LayerChain:
    """The :class:`LayerChain` of ``model``."""
    return LayerChain(model)


__all__ = ["model_layers", "layer_chain", "LayerChain", "FeatureReshape", "trace", "FUNCTIONS", "METHODS"]
