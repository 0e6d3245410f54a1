"""PyTorch autograd as the oracle for convcalc's training figures.

Two figures, each measured on a real training-mode forward of a PyTorch model:

- `backward_macs`: per conv and linear call, the multiply-adds its backward performs. A
  conv's or linear's backward is two products of the forward's size, one giving the weight's
  gradient and one the input's, and autograd computes each only when it is needed
  (convolution_backward's `output_mask`, addmm's `task_should_compute_output` in
  tools/autograd/derivatives.yaml). Bias gradients are sums, not multiply-adds.
- `saved_bytes`: the bytes autograd holds from forward to backward, every tensor the
  forward packs for backward (`torch.autograd.graph.saved_tensors_hooks`), each storage
  counted once, the model's parameters and buffers left out (they are held anyway).

Both leave the model as they found it: hooks removed, each module's training flag restored
(a training forward still updates batchnorm's running statistics).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch_zoo import layer_name


@dataclass(frozen=True)
class Saved:
    """One storage autograd holds for backward, and where it was packed."""

    module: str  # path of the innermost module running when it was first packed ("" the model)
    shape: tuple[int, ...]  # of the packed tensor, which may be a view of a larger storage
    dtype: torch.dtype
    nbytes: int  # the storage's bytes (a dropout mask: one per value, see `_counted_bytes`)


def forward_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int | None:
    """Multiply-adds of one conv, transposed conv or linear call (whole batch), else None."""
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = math.prod(module.kernel_size)
        if module.transposed:  # each input value meets out_channels / groups x the kernel once
            return inputs[0].numel() * module.out_channels // module.groups * kernel
        # each output value is a dot product over in_channels / groups x the kernel
        return output.numel() * module.in_channels // module.groups * kernel
    if isinstance(module, nn.Linear):  # rows x in x out, the rows being every leading dim
        return output.numel() // module.out_features * module.in_features * module.out_features
    return None


def backward_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Backward multiply-adds of each conv and linear call of a training forward on `x`, by
    layer name (torch_zoo's `layer_name`: path, then path@2 ... for repeated calls)."""
    found: dict[str, int] = {}
    calls: dict[str, int] = {}  # module path -> calls so far

    def record(path: str, module: nn.Module, inputs: tuple, output: object) -> None:
        macs = forward_macs(module, inputs, output)
        if macs is None:
            return
        # weight gradient (grad_output with the input) and input gradient (grad_output with
        # the weight), each the forward's multiply-adds, each only if autograd needs it
        needed = int(module.weight.requires_grad) + int(inputs[0].requires_grad)
        call = calls.get(path, 0)
        calls[path] = call + 1
        found[layer_name(path, call)] = macs * needed

    with _training(model), _hooked(model, after=record):
        model(x)
    return found


def saved_tensors(model: nn.Module, x: torch.Tensor) -> list[Saved]:
    """Every storage autograd saves for backward in a training forward on `x`, once each,
    parameters' and buffers' storages left out."""
    held = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    running: list[tuple[str, nn.Module]] = []  # modules whose forward is running, innermost last
    packed: list[tuple[str, nn.Module, torch.Tensor]] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        # Keeping the tensor keeps its storage alive, so no later storage reuses its address.
        packed.append((*running[-1], tensor))
        return tensor

    def enter(path: str, module: nn.Module, _inputs: tuple) -> None:
        running.append((path, module))

    def leave(_path: str, _module: nn.Module, _inputs: tuple, _output: object) -> None:
        running.pop()

    with (
        _training(model),
        _hooked(model, before=enter, after=leave),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor),
    ):
        model(x)

    saved: list[Saved] = []
    seen = set(held)
    for path, module, tensor in packed:
        storage = tensor.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        nbytes = _counted_bytes(module, tensor, storage.nbytes())
        saved.append(Saved(path, tuple(tensor.shape), tensor.dtype, nbytes))
    return saved


def saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd holds from a training forward on `x` to its backward (see `saved_tensors`)."""
    return sum(entry.nbytes for entry in saved_tensors(model, x))


def _counted_bytes(module: nn.Module, tensor: torch.Tensor, storage_bytes: int) -> int:
    """The bytes to count for a saved storage: its own, but a dropout mask's as on CUDA."""
    # nn.Dropout on CPU runs aten's _dropout_impl, `input * noise` with a float noise tensor,
    # and mul saves that noise: 4 bytes a value. On CUDA (what training runs on) dropout is
    # the fused native_dropout, which saves a bool mask: 1 byte a value (both in
    # aten/src/ATen/native/Dropout.cpp; `is_fused_kernel_acceptable` wants a CUDA, XPU,
    # lazy or privateuse1 tensor and 0 < p < 1). Dropout2d/3d (feature dropout) never takes
    # the fused path, so their [N, C, 1 ...] noise is the same on both.
    if isinstance(module, nn.Dropout) and 0 < module.p < 1:
        return tensor.numel()
    return storage_bytes


@contextmanager
def _training(model: nn.Module) -> Iterator[None]:
    """Run the block with `model` in training mode and grad enabled, then restore its modes."""
    modes = {module: module.training for module in model.modules()}
    model.train()
    try:
        with torch.enable_grad():
            yield
    finally:
        for module, training in modes.items():
            module.training = training


@contextmanager
def _hooked(
    model: nn.Module, before: Callable | None = None, after: Callable | None = None
) -> Iterator[None]:
    """Call before(path, module, inputs) and after(path, module, inputs, output) around every
    module call of `model` (the model itself as ""), removing the hooks afterwards."""
    handles = []
    for path, module in model.named_modules():
        if before is not None:
            handles.append(
                module.register_forward_pre_hook(
                    lambda mod, inputs, path=path: before(path, mod, inputs)
                )
            )
        if after is not None:
            handles.append(
                module.register_forward_hook(
                    lambda mod, inputs, output, path=path: after(path, mod, inputs, output)
                )
            )
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
