"""Flatten and fully connected layers."""

from __future__ import annotations

from typing import Literal

from convcalc.dims import Conditions, Window, compare, is_known
from convcalc.errors import ConvCalcError
from convcalc.field import Step
from convcalc.layers.base import (
    WEIGHTS_TRAIN,
    Backward,
    Cost,
    Inputs,
    Layer,
    PositiveInt,
    Result,
    Saved,
    Shape,
)
from convcalc.layers.elementwise import (
    Function,
    activation_flops,
    apply_activation,
    weighted_backward,
)


def reaches_all(mask):
    """A flat [planes, 1] mask: non-zero where a plane reaches any position of `mask`."""
    return mask.reshape(mask.shape[0], 1, -1).sum(axis=2)


class Flatten(Layer):
    """Channels and spatial dims into one vector.

    Its receptive field is taken as the whole map: the dense layer that follows mixes
    every value, so each of its outputs sees the whole input.
    """

    type: Literal["flatten"] = "flatten"
    summarizes_map = True

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        steps = tuple(Step.window(Window(size, size, 0, 0)) for size in shape.spatial)
        return Result(Shape(shape.numel), steps=steps or None)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """A view of its input (torch.flatten): no arithmetic, nothing saved."""
        return Backward(view=True)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0].reshape(values[0].shape[0], -1)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Taken as the whole map (see the class docstring)."""
        return reaches_all(masks[0])


class Dense(Layer):
    """Fully connected layer on a flat input: in*out weights and out biases."""

    type: Literal["dense"] = "dense"
    out_features: PositiveInt
    # The input features it expects: optional, checked when given. With symbolic input
    # sizes it fixes the size a flatten before it must deliver (Keras needs it known too).
    in_features: PositiveInt | None = None
    bias: bool = True
    activation: Function | None = None

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        if shape.spatial:
            raise ConvCalcError(
                f"dense needs a flat input, got {shape}: add a flatten layer before it",
                field="type",
            )
        features = shape.channels
        notes: tuple[str, ...] = ()
        conditions = Conditions()
        if self.in_features is not None:
            if conditions.violated(compare(features, "==", self.in_features), "in_features"):
                raise ConvCalcError(
                    f"input has {features} features, not {self.in_features}", field="in_features"
                )
            features = self.in_features
        elif not is_known(features):
            notes = (
                f"its weights grow with the input size ({features} inputs):"
                " state in_features to fix the size",
            )
        out = Shape(self.out_features)
        macs = features * self.out_features
        bias_terms = self.out_features if self.bias else 0
        cost = Cost(
            params=macs + bias_terms,
            macs=macs,
            flops=2 * macs + bias_terms + activation_flops(self.activation, out.numel),
            connections=macs + bias_terms,
        )
        return Result(out, cost, notes=notes, conditions=conditions.found)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Both gradients are the forward's MACs again. Autograd keeps the input only for
        the weight gradient, when the weights train (addmm saves mat1 when mat2 needs a
        gradient); the weights themselves, for the input's, are parameters."""
        saves = (Saved.input(when=WEIGHTS_TRAIN),)
        return weighted_backward(result.cost, result.output, self.bias, self.activation, saves)

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """PyTorch's [out, in] and [out]."""
        from convcalc import numeric

        weight = numeric.random_weight(rng, (self.out_features, inputs.only.channels))
        return {"weight": weight, **numeric.random_bias(rng, self.out_features, self.bias)}

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        result = kernels.matmul(values[0], weights["weight"].T)
        if "bias" in weights:
            result += weights["bias"]
        return apply_activation(result, self.activation)

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """An all-ones input through the non-zero pattern of the weight (each output reads
        the inputs its row's non-zero weights join), plus the non-zero biases."""
        import numpy as np

        joined = np.count_nonzero(weights["weight"], axis=1)
        return int(joined.sum()) + int(np.count_nonzero(weights.get("bias", ())))

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Every output reads every input."""
        return reaches_all(masks[0])
