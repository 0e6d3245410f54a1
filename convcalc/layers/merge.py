"""Layers that join branches: elementwise add (residuals) and channel concat."""

from __future__ import annotations

from typing import Literal

from convcalc.dims import Conditions
from convcalc.errors import ConvCalcError
from convcalc.layers.base import Cost, Inputs, Layer, Result, Shape, mismatched


def _listing(inputs: Inputs) -> str:
    return ", ".join(
        f"{name} {shape}" for name, shape in zip(inputs.names, inputs.shapes, strict=True)
    )


class Add(Layer):
    """Elementwise sum of two or more inputs of the same shape."""

    min_inputs = 2
    max_inputs = None

    type: Literal["add"] = "add"

    def analyze(self, inputs: Inputs) -> Result:
        first = inputs.shapes[0]
        conditions = Conditions()
        if any(
            mismatched(shape.as_tuple(), first.as_tuple(), "inputs", conditions)
            for shape in inputs.shapes
        ):
            raise ConvCalcError(f"shapes differ: {_listing(inputs)}", field="inputs")
        # n-1 additions per value; each value joins its n operands.
        operands = len(inputs.shapes)
        cost = Cost(flops=(operands - 1) * first.numel, connections=operands * first.numel)
        return Result(first, cost, conditions=conditions.found)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return _summed(values)

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """The sum of one indicator per operand: how many operands each output value joins."""
        from convcalc import numeric

        shape = inputs.shapes[0]
        indicators = [numeric.indicator(shape.spatial) for _ in inputs.shapes]
        return shape.channels * int(_summed(indicators).sum())

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """The union of the operands' inputs."""
        return _summed(masks)


def _summed(values: list):
    """The element-wise sum of two or more arrays, in a new array."""
    result = values[0] + values[1]
    for operand in values[2:]:
        result += operand
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

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        import numpy as np

        return np.concatenate(values, axis=1)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """The union of the inputs' positions (channels do not matter)."""
        return sum(masks[1:], masks[0])
