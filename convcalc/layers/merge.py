"""Layers that join branches: elementwise add (residuals) and multiply (gates), and
channel concat."""

from __future__ import annotations

import operator
from typing import ClassVar, Literal

from convcalc.dims import Conditions, is_known
from convcalc.errors import ConvCalcError
from convcalc.layers.base import (
    NO_BACKWARD,
    OTHERS_NEED_GRAD,
    Backward,
    Cost,
    Inputs,
    Layer,
    Result,
    Saved,
    Shape,
    mismatched,
)


def _listing(inputs: Inputs) -> str:
    return ", ".join(
        f"{name} {shape}" for name, shape in zip(inputs.names, inputs.shapes, strict=True)
    )


def broadcast_shape(inputs: Inputs, conditions: Conditions) -> Shape:
    """The shape of an elementwise result under PyTorch's broadcasting, as far as convcalc
    takes it: the same rank; channels equal or 1; spatial sizes equal, or all 1 (a global
    tensor, as SE's gate after its global pool), broadcast over the whole map.

    PyTorch also broadcasts a single row or column of a map. convcalc refuses that: a skip
    connection that comes out one row short at some input size would be broadcast silently,
    and a formula size cannot say whether it is 1. Spatial formulas must be equal, a
    condition on the input sizes kept in `conditions`.
    """
    shapes = inputs.shapes
    if len({len(shape.spatial) for shape in shapes}) > 1:
        raise ConvCalcError(
            f"shapes differ: {_listing(inputs)} (broadcasting needs the same number of dims)",
            field="inputs",
        )
    channels = {shape.channels for shape in shapes} - {1}
    maps = [shape.spatial for shape in shapes if not _global(shape)]
    if len(channels) > 1 or any(
        mismatched(spatial, maps[0], "inputs", conditions) for spatial in maps[1:]
    ):
        raise ConvCalcError(
            f"shapes differ: {_listing(inputs)} (broadcasting needs channels equal or 1, and"
            " spatial sizes equal or all 1)",
            field="inputs",
        )
    return Shape(channels.pop() if channels else 1, maps[0] if maps else shapes[0].spatial)


def _global(shape: Shape) -> bool:
    """True for a tensor of spatial sizes all 1, written so (not a formula that may be 1)."""
    return all(is_known(size) and size == 1 for size in shape.spatial)


class _Elementwise(Layer):
    """Two or more inputs joined value by value, broadcast (see `broadcast_shape`).

    Each output value is computed from one value of each operand: inputs - 1 operations
    and one connection per operand. Its field is the union of the operands' (a broadcast
    operand's one position is read by every output position: see field.union).
    """

    min_inputs = 2
    max_inputs = None

    # operator.add or operator.mul: the operation, on NumPy arrays.
    operation: ClassVar = operator.add

    def analyze(self, inputs: Inputs) -> Result:
        conditions = Conditions()
        out = broadcast_shape(inputs, conditions)
        operands = len(inputs.shapes)
        cost = Cost(flops=(operands - 1) * out.numel, connections=operands * out.numel)
        return Result(out, cost, conditions=conditions.found)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return _combined(values, type(self).operation)

    def broadcast_reductions(self, inputs: Inputs, out: Shape) -> int:
        """FLOPs of summing the gradient over where an operand was broadcast: one add per
        output value for each operand smaller than the output."""
        smaller = sum(shape.numel != out.numel for shape in inputs.shapes)
        return smaller * out.numel

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """The broadcast sum of one indicator per operand: how many operands each output
        value joins, times the output's channels."""
        from convcalc import numeric

        indicators = [numeric.indicator(shape.spatial) for shape in inputs.shapes]
        channels = max(shape.channels for shape in inputs.shapes)
        return channels * int(_combined(indicators, operator.add).sum())

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """The union of the operands' inputs, a broadcast one reaching every position."""
        return _combined(masks, operator.add)


class Add(_Elementwise):
    """Elementwise sum of two or more inputs (residuals, a broadcast global context)."""

    type: Literal["add"] = "add"

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """The gradient passes to every operand as it is (summed where one was broadcast);
        nothing is saved."""
        return Backward(flops=self.broadcast_reductions(inputs, result.output))


class Multiply(_Elementwise):
    """Elementwise product of two or more inputs: SE's x * gate (Hu et al. 2018), WaveNet's
    tanh * sigmoid gating (van den Oord et al. 2016).

    A product of two activations is not a multiplication by a weight: no MAC, as for add.
    """

    type: Literal["multiply"] = "multiply"
    operation: ClassVar = operator.mul

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Each operand's gradient is the output's times the other operands, so autograd
        keeps each operand when another one needs a gradient (mul's rule). Beyond two
        operands PyTorch multiplies pairwise and keeps each partial product too. FLOPs: a
        multiply per value for each operand's gradient, for each other operand."""
        operands = len(inputs.shapes)
        out = result.output
        saves = tuple(Saved.input(index, when=OTHERS_NEED_GRAD) for index in range(operands))
        partials = tuple(Saved.new(out.numel) for _ in range(operands - 2))
        flops = operands * (operands - 1) * out.numel + self.broadcast_reductions(inputs, out)
        return Backward(flops=flops, saves=saves + partials)


def _combined(values: list, operation):
    """`operation` over two or more arrays, broadcast, in a new array (in place after the
    first two where the result already has the broadcast shape)."""
    import numpy as np

    result = operation(values[0], values[1])
    in_place = {operator.add: operator.iadd, operator.mul: operator.imul}[operation]
    for operand in values[2:]:
        if np.broadcast_shapes(result.shape, operand.shape) == result.shape:
            result = in_place(result, operand)
        else:
            result = operation(result, operand)
    return result


class Concat(Layer):
    """Stack two or more inputs along the channels; spatial sizes must match."""

    min_inputs = 2
    max_inputs = None

    type: Literal["concat"] = "concat"

    def analyze(self, inputs: Inputs) -> Result:
        first = inputs.shapes[0]
        conditions = Conditions()
        if any(
            mismatched(shape.spatial, first.spatial, "inputs", conditions)
            for shape in inputs.shapes
        ):
            raise ConvCalcError(f"spatial sizes differ: {_listing(inputs)}", field="inputs")
        channels = sum(shape.channels for shape in inputs.shapes)
        return Result(Shape(channels, first.spatial), conditions=conditions.found)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Each input's gradient is a slice of the output's: nothing computed or saved."""
        return NO_BACKWARD

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        import numpy as np

        return np.concatenate(values, axis=1)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """The union of the inputs' positions (channels do not matter)."""
        return sum(masks[1:], masks[0])
