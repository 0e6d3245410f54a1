"""Max unpooling: put each value back where its max pool found it, zeros elsewhere."""

from __future__ import annotations

from typing import Literal

from convcalc import dims as dimension
from convcalc.dims import Conditions
from convcalc.errors import ConvCalcError
from convcalc.field import FieldKind, Step
from convcalc.layers.base import (
    Backward,
    Inputs,
    Layer,
    PaddingArg,
    Result,
    Saved,
    Shape,
    SizeArg,
    make_windows,
    mismatched,
    per_dim,
)
from convcalc.text import shown


class MaxUnpool(Layer):
    """Inverse of the max pool named by `of`, using its indices (SegNet's decoder)."""

    spatial = True
    field_kind = FieldKind.ENVELOPE  # stride 1/s
    references = ("of",)

    type: Literal["max_unpool"] = "max_unpool"
    of: str
    kernel_size: SizeArg | None = None
    stride: SizeArg | None = None
    padding: PaddingArg | None = None
    output_size: SizeArg | None = None

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        conditions = Conditions()
        pool_input, windows = self._windows(inputs, conditions)
        # PyTorch MaxUnpool: (in - 1)*stride - 2*padding + kernel_size.
        default = tuple(
            dimension.transposed_output_size(size, window)
            for size, window in zip(shape.spatial, windows, strict=True)
        )
        notes: tuple[str, ...] = ()
        if self.output_size is None:
            sizes = default
            # With formula sizes the two may differ for some sizes only; not a note then.
            known = dimension.is_known(*sizes, *pool_input.spatial)
            if known and sizes != pool_input.spatial:
                notes = (
                    f"output {'x'.join(map(str, sizes))} differs from the input"
                    f" {'x'.join(map(str, pool_input.spatial))} of max_pool {shown(self.of)};"
                    " set output_size to restore it",
                )
        else:
            sizes = per_dim(self.output_size, len(shape.spatial), "output_size")
            for size, low, window in zip(sizes, default, windows, strict=True):
                # PyTorch accepts sizes strictly within one stride of the default.
                above = dimension.compare(low - window.stride, "<", size)
                below = dimension.compare(size, "<", low + window.stride)
                if conditions.violated(above, "output_size") or conditions.violated(
                    below, "output_size"
                ):
                    raise ConvCalcError(
                        f"output_size {sizes} must be within one stride of {default}",
                        field="output_size",
                    )
        steps = tuple(Step.upsampling(window) for window in windows)
        return Result(
            Shape(shape.channels, sizes), steps=steps, notes=notes, conditions=conditions.found
        )

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Its gradient gathers the output's at its pool's argmax: autograd keeps those
        indices, the very tensor the pool keeps (counted once)."""
        return Backward(saves=(Saved.named(self.of, "indices"),))

    def needs(self) -> tuple[tuple[str, str], ...]:
        """The argmax of its pool."""
        return ((self.of, "indices"),)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """Each value to where its pool found it (the argmax the pool saved for this layer)."""
        sizes = self.analyze(inputs).output.spatial
        return kernels.unpool(values[0], context.saved(self.of, "indices"), sizes)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Where a value may land: any position of its pool window (the actual one depends on
        the data), a transposed window of ones."""
        import numpy as np

        _, windows = self._windows(inputs, Conditions())  # numbers: none kept
        sizes = self.analyze(inputs).output.spatial
        ones = np.ones((1, 1, *(w.kernel for w in windows)), dtype=masks[0].dtype)
        return kernels.conv_transpose(masks[0], ones, windows, sizes)

    def _windows(
        self, inputs: Inputs, conditions: Conditions
    ) -> tuple[Shape, tuple[dimension.Window, ...]]:
        """The input of the pool named by `of`, and the pool windows over it."""
        shape = inputs.only
        found = inputs.lookup(self.of)
        if found is None or "indices" not in found[0].provides:
            raise ConvCalcError(f"{shown(self.of)} is not an earlier max_pool layer", field="of")
        pool, pool_inputs, pool_output = found
        if mismatched(pool_output.as_tuple(), shape.as_tuple(), "of", conditions):
            raise ConvCalcError(
                f"input {shape} does not match the indices of {shown(self.of)},"
                f" shaped {pool_output}",
                field="of",
            )
        pool_input = pool_inputs[0]
        kernel = pool.kernel_size if self.kernel_size is None else self.kernel_size
        stride = self.stride if self.stride is not None else pool.strides()
        padding = pool.padding if self.padding is None else self.padding
        return pool_input, make_windows(pool_input, kernel, stride, padding)
