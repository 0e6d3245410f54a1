"""Reference PyTorch models of torchvision's CNNs, for tests/test_zoo.py.

Each family module (resnet.py, ...) is written from torchvision 0.28's definition of those
models (torchvision/models/*.py), keeping its module names, so that the state_dict keys and
the module paths are torchvision's. torchvision itself is not imported: its compiled ops do
not load everywhere, and these tests need only the layers. Each family module fills
BUILDERS: spec name -> a function that builds the model.

`trace` runs a model on the meta device (shapes only, no arithmetic) and records every
module's calls, which is all the layer-by-layer comparison needs.

Channels-last stretches. convcalc's tensors are channels-first (C x spatial) throughout,
while some torchvision blocks move the channels last with a Permute module and run
LayerNorm and Linear there (ConvNeXt's block.1 ... block.6). The Linear over the channels
of each position is convcalc's 1x1 conv (same params and MACs), LayerNorm over the last
dim its layer_norm over the channels. So that shapes line up, `trace` treats `Permute`
as a change of layout, not a layer: its calls are not recorded and need no layer in the
spec, and between a Permute to channels-last ([0, 2, 3, 1] or [0, 2, 3, 4, 1]) and the
Permute back, each call's output shape is recorded with its last dim moved first.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

FAMILIES = (
    "alexnet",
    "resnet",
    "regnet",
    "convnext",
    "densenet",
    "googlenet",
    "shufflenet",
    "squeezenet",
    "vgg",
    "mobilenet",
    "efficientnet",
    "mnasnet",
    "video",
    "inception",
    "segmentation",
)

BUILDERS: dict[str, Callable[[], nn.Module]] = {}


def builders() -> dict[str, Callable[[], nn.Module]]:
    """Every reference model, by the name of its spec."""
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
    return BUILDERS


class Permute(nn.Module):
    """torchvision's ops.misc.Permute: a view of the input with its dims reordered."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)

    @property
    def to_channels_last(self) -> bool:
        """[0, 2, 3, 1] (or [0, 2, 3, 4, 1]): the channels move from dim 1 to the last dim."""
        return self.dims == [0, *range(2, len(self.dims)), 1]


def register(name: str) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    def add(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        BUILDERS[name] = build
        return build

    return add


@dataclass(frozen=True)
class Call:
    """One call of one module: its output shape without the batch, and its multiply-adds
    when it is a conv or a linear layer (counted from the module's own attributes)."""

    output_shape: tuple[int, ...] | None
    macs: int | None


@dataclass(frozen=True)
class Trace:
    calls: dict[str, list[Call]]  # module path -> its calls, in order
    leaves: frozenset[str]  # paths of modules without children, Permutes left out
    params: dict[str, int]  # parameter name (state_dict key) -> its element count


def module_macs(module: nn.Module, output: torch.Tensor) -> int | None:
    """Multiply-adds of a conv or linear call: each output value is a dot product over
    in_channels / groups x the kernel (conv) or in_features (linear) inputs."""
    positions = output.numel() // output.shape[0]
    if isinstance(module, nn.modules.conv._ConvNd):
        if module.transposed:  # each input value meets the whole kernel once per output channel
            return None
        return positions * module.in_channels // module.groups * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return positions * module.in_features
    return None


def _hook_calls(model: nn.Module, record: Callable) -> set[str]:
    """Hook every module of `model` to call record(path, module, inputs, output) on each call, the
    output channels-first (see "Channels-last stretches" above) and Permutes left out;
    return the paths of the leaf modules."""
    channels_last = False  # between a Permute to channels-last and the one back

    def hook(name: str) -> Callable:
        def called(module: nn.Module, inputs: tuple, output: object) -> None:
            nonlocal channels_last
            if isinstance(module, Permute):
                channels_last = module.to_channels_last
                return
            if channels_last and isinstance(output, torch.Tensor):
                output = output.movedim(-1, 1)
            record(name, module, inputs, output)

        return called

    leaves = set()
    for name, module in model.named_modules():
        if name:
            module.register_forward_hook(hook(name))
            if not any(True for _ in module.children()) and not isinstance(module, Permute):
                leaves.add(name)
    return leaves


def trace(model: nn.Module, input_shape: tuple[int, ...], training: bool = False) -> Trace:
    """Run `model` in eval mode on one meta tensor of `input_shape` and record its calls
    (in channels-first order: see "Channels-last stretches" above).

    `training` runs it in training mode instead, so that the branches that run only then
    (inception_v3's AuxLogits) are called too; batchnorm stays in eval mode, as a batch of
    one 1x1 map cannot give batch statistics."""
    calls: dict[str, list[Call]] = {}

    def record(name: str, module: nn.Module, _inputs: tuple, output: object) -> None:
        if isinstance(output, torch.Tensor):
            call = Call(tuple(output.shape[1:]), module_macs(module, output))
        else:
            call = Call(None, None)
        calls.setdefault(name, []).append(call)

    model = model.to("meta").train(training)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    leaves = _hook_calls(model, record)
    with torch.no_grad():
        model(torch.empty(1, *input_shape, device="meta"))
    params = {name: p.numel() for name, p in model.named_parameters()}
    return Trace(calls, frozenset(leaves), params)


def layer_name(path: str, call: int) -> str:
    """The spec's name for a module's call (0-based): its path, then path@2, path@3 for the
    later calls of a module torchvision calls more than once (ResNet's relu)."""
    return path if call == 0 else f"{path}@{call + 1}"


def load_saved(model: nn.Module, arrays: dict) -> None:
    """Give `model` the weights a `verify --save` run drew: each state_dict key `path.name`
    is the saved `path/name`, and a module's own parameter `path.name` (ConvNeXt's
    layer_scale) the saved weight of the layer named after it, `path.name/weight`."""
    state = {}
    for key, value in model.state_dict().items():
        module, _, name = key.rpartition(".")
        if name == "num_batches_tracked":
            state[key] = value
            continue
        saved = arrays.get(f"{module}/{name}", arrays.get(f"{key}/weight"))
        assert saved is not None, f"nothing saved for {key}"
        state[key] = torch.from_numpy(saved).reshape(value.shape)
    model.load_state_dict(state)


def outputs(model: nn.Module, input_array) -> dict[str, list[tuple[torch.Tensor, float]]]:
    """Every module call's output on `input_array`, in eval mode, by module path (channels
    first, as `trace` records them), each with the largest magnitude among its inputs: a
    float32 error carried from upstream is relative to that, and a gate (hardsigmoid of
    values in the hundreds) shrinks the values but not the error in them by as much."""
    found: dict[str, list[tuple[torch.Tensor, float]]] = {}

    def record(name: str, _module: nn.Module, inputs: tuple, output: object) -> None:
        # A copy: an in-place ReLU after this module would overwrite its output.
        copy = output.clone() if isinstance(output, torch.Tensor) else output
        tensors = [x for x in inputs if isinstance(x, torch.Tensor) and x.numel()]
        scale = max((float(x.abs().max()) for x in tensors), default=0.0)
        found.setdefault(name, []).append((copy, scale))

    _hook_calls(model, record)
    with torch.no_grad():
        model.eval()(torch.from_numpy(input_array))
    return found
