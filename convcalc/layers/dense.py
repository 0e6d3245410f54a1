"""Flatten and fully connected layers."""

from __future__ import annotations

from typing import Literal

from convcalc.errors import ConvCalcError
from convcalc.field import Step
from convcalc.layers.base import Cost, Inputs, Layer, PositiveInt, Result, Shape
from convcalc.layers.elementwise import Function, activation_flops


class Flatten(Layer):
    """Channels and spatial dims into one vector.

    Its receptive field is taken as the whole map: the dense layer that follows mixes
    every value, so each of its outputs sees the whole input.
    """

    type: Literal["flatten"] = "flatten"

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        steps = tuple(Step.window(size, size, 0) for size in shape.spatial)
        return Result(Shape(shape.numel), steps=steps or None)


class Dense(Layer):
    """Fully connected layer on a flat input: in*out weights and out biases."""

    type: Literal["dense"] = "dense"
    out_features: PositiveInt
    bias: bool = True
    activation: Function | None = None

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        if shape.spatial:
            raise ConvCalcError(
                f"dense needs a flat input, got {shape}: add a flatten layer before it",
                field="type",
            )
        out = Shape(self.out_features)
        macs = shape.channels * self.out_features
        bias_terms = self.out_features if self.bias else 0
        cost = Cost(
            params=macs + bias_terms,
            macs=macs,
            flops=2 * macs + bias_terms + activation_flops(self.activation, out.numel),
            connections=macs + bias_terms,
        )
        return Result(out, cost)
