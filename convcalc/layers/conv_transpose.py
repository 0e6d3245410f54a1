"""Transposed convolution ("deconvolution"): a convolution's gradient, used to upsample."""

from __future__ import annotations

from typing import Literal

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import FieldKind, Step
from convcalc.layers.base import (
    Backward,
    Inputs,
    Layer,
    PaddingArg,
    PositiveInt,
    Result,
    Saved,
    Shape,
    SizeArg,
    SpatialInt,
    by_dims,
    check_groups,
    kernel_volume,
    per_dim,
    resolve_padding,
    sized,
)
from convcalc.layers.conv import convolution_cost
from convcalc.layers.elementwise import Function, apply_activation, weighted_backward


class ConvTranspose(Layer):
    """out = (in-1)*s - p_before - p_after + d*(k-1) + output_padding + 1 (PyTorch), or
    output_size, which chooses output_padding."""

    spatial = True
    field_kind = FieldKind.ENVELOPE  # stride 1/s

    type: Literal["conv_transpose"] = "conv_transpose"
    out_channels: PositiveInt
    kernel_size: SizeArg
    stride: SizeArg = 1
    padding: PaddingArg = 0
    # PyTorch's ConvTranspose takes only zeros ("Only 'zeros' padding mode is supported"):
    # its padding crops the output rather than pads the input.
    padding_mode: Literal["zeros"] = "zeros"
    output_padding: int | list[int] = 0
    # PyTorch's forward(output_size=...): the spatial sizes wanted, which choose output_padding.
    output_size: SpatialInt | list[SpatialInt] | None = None
    dilation: SizeArg = 1
    groups: PositiveInt = 1
    bias: bool = True
    activation: Function | None = None

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        windows, sizes = self._geometry(shape)
        check_groups(shape.channels, self.out_channels, self.groups)
        conditions = dimension.Conditions()
        out = sized(self.out_channels, sizes, shape, "padding", conditions)
        pairs_landing = 1
        for window, size, out_size in zip(windows, shape.spatial, sizes, strict=True):
            pairs_landing *= dimension.transposed_real_taps(size, window, out_size)
        # Each input value is multiplied by every tap of its out/groups kernels.
        cost = convolution_cost(
            out,
            channel_pairs=shape.channels * self.out_channels // self.groups,
            kernel_taps=kernel_volume(windows),
            positions=shape.positions,
            real_pairs=pairs_landing,
            bias=self.bias,
            activation=self.activation,
        )
        steps = tuple(Step.upsampling(window) for window in windows)
        # Odena et al. 2016, "Deconvolution and Checkerboard Artifacts": uneven overlap.
        notes = by_dims(
            [
                (
                    axis,
                    f"kernel {w.kernel} is not divisible by stride {w.stride}:"
                    " uneven overlap (checkerboard artifacts)",
                )
                for axis, w in enumerate(windows)
                if w.kernel % w.stride
            ]
        )
        return Result(out, cost, steps, tuple(notes), conditions=conditions.found)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Both gradients are the forward's MACs again; autograd keeps the input."""
        return weighted_backward(
            result.cost, result.output, self.bias, self.activation, (Saved.input(),)
        )

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """PyTorch's [in, out/groups, *kernel] and [out]."""
        from convcalc import numeric

        shape = inputs.only
        kernel = per_dim(self.kernel_size, len(shape.spatial), "kernel_size")
        weight = numeric.random_weight(
            rng, (shape.channels, self.out_channels // self.groups, *kernel)
        )
        return {"weight": weight, **numeric.random_bias(rng, self.out_channels, self.bias)}

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        windows, sizes = self._geometry(inputs.only)
        result = kernels.conv_transpose(
            values[0], weights["weight"], windows, sizes, self.groups, weights.get("bias")
        )
        return apply_activation(result, self.activation)

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """The one-channel indicator of the input, transposed-convolved with the number of
        non-zero weights at each tap: only products landing inside the output count."""
        import numpy as np

        from convcalc import numeric

        windows, sizes = self._geometry(inputs.only)
        taps = np.count_nonzero(weights["weight"], axis=(0, 1)).astype(np.float64)
        indicator = numeric.indicator(inputs.only.spatial)
        counted = kernels.conv_transpose(indicator, taps[None, None], windows, sizes)
        bias = weights.get("bias")
        return int(counted.sum()) + (
            np.count_nonzero(bias) * counted.size if bias is not None else 0
        )

    def dependency(self, inputs: Inputs, masks: list, kernels):
        import numpy as np

        windows, sizes = self._geometry(inputs.only)
        ones = np.ones((1, 1, *(w.kernel for w in windows)), dtype=masks[0].dtype)
        return kernels.conv_transpose(masks[0], ones, windows, sizes)

    def _geometry(self, shape: Shape) -> tuple[tuple[dimension.Window, ...], tuple[int, ...]]:
        """The per-dim windows and output sizes."""
        windows, output_padding = self._windows(shape)
        sizes = tuple(
            dimension.transposed_output_size(size, window, extra)
            for size, window, extra in zip(shape.spatial, windows, output_padding, strict=True)
        )
        return windows, sizes

    def _windows(self, shape: Shape) -> tuple[tuple[dimension.Window, ...], tuple[int, ...]]:
        dims = len(shape.spatial)
        kernel = per_dim(self.kernel_size, dims, "kernel_size")
        strides = per_dim(self.stride, dims, "stride")
        dilations = per_dim(self.dilation, dims, "dilation")
        output_padding = per_dim(self.output_padding, dims, "output_padding")
        if self.padding == "same":
            pads, extra = [], []
            for k, s, d in zip(kernel, strides, dilations, strict=True):
                before, after, shortfall = dimension.transposed_same_padding(k, s, d)
                pads.append((before, after))
                extra.append(shortfall)
            output_padding = tuple(a + b for a, b in zip(output_padding, extra, strict=True))
        else:
            pads = resolve_padding(self.padding, shape.spatial, kernel, strides, dilations)
        windows = tuple(
            dimension.Window(k, s, before, after, d)
            for k, s, (before, after), d in zip(kernel, strides, pads, dilations, strict=True)
        )
        if self.output_size is not None:
            output_padding = self._chosen_output_padding(shape, windows, output_padding)
        for s, d, extra in zip(strides, dilations, output_padding, strict=True):
            if not 0 <= extra < max(s, d):
                # PyTorch's bound (ConvTranspose: "output padding must be smaller than either
                # stride or dilation"); a negative one is refused for its sign.
                bound = "at least 0" if extra < 0 else f"below max(stride, dilation) = {max(s, d)}"
                raise ConvCalcError(
                    f"output_padding {extra} must be {bound}", field="output_padding"
                )
        return windows, output_padding

    def _chosen_output_padding(
        self, shape: Shape, windows: tuple[dimension.Window, ...], output_padding: tuple
    ) -> tuple[int, ...]:
        """The output padding that gives `output_size`, as PyTorch's _ConvTransposeNd.
        _output_padding chooses it: the size wanted less the smallest size, which must be
        in [smallest, smallest + stride - 1]."""
        if self.padding == "same":
            # PyTorch refuses padding='same' for ConvTranspose; here 'same' already sets it.
            raise ConvCalcError("output_size cannot go with padding 'same'", field="output_size")
        if any(output_padding):
            raise ConvCalcError(
                "output_size chooses the output padding: give output_padding 0, or no output_size",
                field="output_size",
            )
        if not dimension.is_known(*shape.spatial):
            raise ConvCalcError(f"needs number input sizes, not {shape}", field="output_size")
        wanted = per_dim(self.output_size, len(shape.spatial), "output_size")
        chosen = []
        for axis, (size, window, out) in enumerate(
            zip(shape.spatial, windows, wanted, strict=True)
        ):
            smallest = dimension.transposed_output_size(size, window)
            largest = smallest + window.stride - 1
            if not smallest <= out <= largest:
                raise ConvCalcError(
                    f"{out} in spatial dim {axis + 1} is outside the valid range"
                    f" [{smallest}, {largest}] for input size {size}",
                    field="output_size",
                )
            chosen.append(out - smallest)
        return tuple(chosen)
