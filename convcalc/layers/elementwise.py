"""Layers that keep the shape and work value by value: activation, batchnorm, dropout."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from convcalc.layers.base import Cost, Inputs, Layer, Result

Function = Literal[
    "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "hardswish", "softmax"
]

# FLOPs per value: one per arithmetic operation or comparison, one per transcendental
# function (exp, erf, tanh), counted on each function's textbook formula.
ACTIVATION_FLOPS: dict[str, int] = {
    "relu": 1,  # max(x, 0)
    "relu6": 2,  # min(max(x, 0), 6)
    "leaky_relu": 2,  # max(x, a*x)
    "sigmoid": 4,  # 1 / (1 + exp(-x))
    "tanh": 1,  # tanh(x)
    "gelu": 5,  # 0.5 * x * (1 + erf(x / sqrt 2))
    "silu": 5,  # x * sigmoid(x)
    "hardswish": 5,  # x * min(max(x + 3, 0), 6) / 6
    "softmax": 5,  # running max, subtract, exp, sum, divide
}


def activation_flops(function: str | None, values: int) -> int:
    """FLOPs of applying an activation function to `values` values (0 for none)."""
    return ACTIVATION_FLOPS[function] * values if function else 0


def apply_activation(values, function: str | None, negative_slope: float = 0.01):
    """The activation's NumPy forward, in place where it can be (PyTorch's definitions)."""
    if function is None:
        return values
    import numpy as np

    from convcalc import numeric

    if function == "relu":
        return np.maximum(values, 0, out=values)
    if function == "relu6":
        return np.clip(values, 0, 6, out=values)
    if function == "leaky_relu":
        return np.where(values >= 0, values, values * values.dtype.type(negative_slope))
    if function == "sigmoid":
        return numeric.sigmoid(values)
    if function == "tanh":
        return np.tanh(values, out=values)
    if function == "gelu":
        return numeric.gelu(values)
    if function == "silu":
        return values * numeric.sigmoid(values)
    if function == "hardswish":
        return values * np.clip(values + 3, 0, 6) / values.dtype.type(6)
    # softmax over the channels, shifted by the max for range
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class Activation(Layer):
    """A nonlinearity on its own; softmax runs over the channels."""

    type: Literal["activation"] = "activation"
    function: Function
    negative_slope: float = 0.01  # leaky_relu only

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        return Result(shape, Cost(flops=activation_flops(self.function, shape.numel)))

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return apply_activation(values[0].copy(), self.function, self.negative_slope)


class BatchNorm(Layer):
    """Batch normalization in inference: a per-channel scale and shift.

    The affine weight and bias are 2*C trainable params; the running mean and variance are
    2*C buffers. Folded for inference, it costs one multiply and one add per value.
    """

    type: Literal["batchnorm"] = "batchnorm"
    eps: Annotated[float, Field(gt=0)] = 1e-5

    buffer_names: ClassVar[tuple[str, ...]] = ("running_mean", "running_var")

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        return Result(
            shape,
            Cost(params=2 * shape.channels, buffers=2 * shape.channels, flops=2 * shape.numel),
        )

    def make_weights(self, inputs: Inputs, rng) -> dict:
        import numpy as np

        channels = inputs.only.channels
        return {
            "weight": rng.uniform(0.5, 1.5, channels).astype(np.float32),
            "bias": rng.standard_normal(channels, dtype=np.float32) * np.float32(0.1),
            "running_mean": rng.standard_normal(channels, dtype=np.float32) * np.float32(0.1),
            "running_var": rng.uniform(0.5, 1.5, channels).astype(np.float32),
        }

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """Eval mode: (x - running_mean) / sqrt(running_var + eps) * weight + bias."""
        import numpy as np

        shape = (1, -1, *(1,) * (values[0].ndim - 2))
        scale = weights["weight"] / np.sqrt(weights["running_var"] + np.float32(self.eps))
        shift = weights["bias"] - weights["running_mean"] * scale
        return values[0] * scale.reshape(shape) + shift.reshape(shape)


class Dropout(Layer):
    """Dropout: the identity at inference."""

    type: Literal["dropout"] = "dropout"
    p: Annotated[float, Field(ge=0, lt=1)] = 0.5

    def analyze(self, inputs: Inputs) -> Result:
        return Result(inputs.only)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0]
