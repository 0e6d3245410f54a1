"""Layers that keep the shape and work value by value: activation, prelu, scale,
batchnorm, dropout."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from convcalc.errors import ConvCalcError
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

Function = Literal[
    "relu",
    "relu6",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "hardswish",
    "softmax",
    "hardsigmoid",
    "elu",
    "selu",
    "mish",
    "softplus",
    "identity",
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
    "hardsigmoid": 4,  # min(max(x + 3, 0), 6) / 6
    "elu": 4,  # x if x > 0 else alpha * (exp(x) - 1)
    "selu": 5,  # scale * elu(x) with SELU's alpha
    "mish": 5,  # x * tanh(log(1 + exp(x)))
    "softplus": 5,  # log(1 + exp(beta * x)) / beta; PyTorch's linear guard not counted
    "identity": 0,
}

# Klambauer et al. 2017, "Self-normalizing neural networks", eq. 2; PyTorch's nn.SELU.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation_flops(function: str | None, values: int) -> int:
    """FLOPs of applying an activation function to `values` values (0 for none)."""
    return ACTIVATION_FLOPS[function] * values if function else 0


# The functions whose gradient PyTorch's autograd computes from their output (relu:
# threshold_backward(grad, result); sigmoid, tanh, softmax likewise); every other one but
# the identity keeps its input (derivatives.yaml; their in-place forms keep a copy of it).
SAVES_OUTPUT = frozenset({"relu", "sigmoid", "tanh", "softmax"})

# Bytes of a value autograd saves in a type of its own, whatever the activations' dtype.
INDEX_BYTES = 8  # int64 indices (max_pool's argmax)
MASK_BYTES = 1  # a bool mask (dropout's, as CUDA's fused kernel keeps it)
STATISTICS_BYTES = 4  # float32 statistics (batchnorm's mean and inverse std)


def activation_saves(function: str | None, values: int, own_layer: bool) -> tuple[Saved, ...]:
    """What a function's backward keeps: its output, or its input. `own_layer`: the
    function is the layer (its input is the layer's input); else it is fused after the
    layer's arithmetic, whose result of `values` values per sample is a tensor of its own."""
    if function is None or function == "identity":
        return ()
    if function in SAVES_OUTPUT:
        return (Saved.output(),)
    return (Saved.input(),) if own_layer else (Saved.new(values),)


def weighted_backward(
    cost: Cost, out: Shape, bias: bool, activation: str | None, saves: tuple[Saved, ...]
) -> Backward:
    """Conv, transposed conv and dense: each gradient is the forward's MACs again (the
    weights': output gradient x input; the input's: output gradient x weights), the bias
    gradient one add per output value, and a fused activation's derivative its FLOPs."""
    return Backward(
        weight_macs=cost.macs,
        input_macs=cost.macs,
        weight_flops=out.numel if bias else 0,
        flops=activation_flops(activation, out.numel),
        saves=(*saves, *activation_saves(activation, out.numel, own_layer=False)),
    )


def affine_backward(
    out: Shape, weight_flops: int, elementwise_flops: int, saves: tuple[Saved, ...]
) -> Backward:
    """A layer of per-channel weights and no MACs (batchnorm, scale, prelu, a norm's
    affine): `weight_flops` per output value for the weights' gradients (a factor's is a
    product with the input and a sum over the positions, 2; a bias's the sum alone, 1),
    and the forward's elementwise work again for the input's."""
    return Backward(weight_flops=weight_flops * out.numel, flops=elementwise_flops, saves=saves)


def apply_activation(
    values,
    function: str | None,
    negative_slope: float = 0.01,
    alpha: float = 1.0,
    beta: float = 1.0,
    threshold: float = 20.0,
):
    """The activation's NumPy forward, in place where it can be (PyTorch's definitions);
    the keyword settings are those of leaky_relu, elu and softplus."""
    if function is None or function == "identity":
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
    if function == "hardsigmoid":
        return np.clip(values + 3, 0, 6) / values.dtype.type(6)
    if function in ("elu", "selu"):
        scale, alpha = (SELU_SCALE, SELU_ALPHA) if function == "selu" else (1.0, alpha)
        # expm1 keeps the precision of small negative x, as PyTorch's kernel does.
        negative = values.dtype.type(alpha) * np.expm1(np.minimum(values, 0))
        return values.dtype.type(scale) * np.where(values > 0, values, negative)
    if function == "mish":
        return values * np.tanh(_softplus(values, 1.0, 20.0))
    if function == "softplus":
        return _softplus(values, beta, threshold)
    # softmax over the channels, shifted by the max for range
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _softplus(values, beta: float, threshold: float):
    """PyTorch's softplus: log(1 + exp(beta x)) / beta, and x itself where beta x exceeds
    the threshold (where the two agree to float precision)."""
    import numpy as np

    scaled = values * values.dtype.type(beta)
    smooth = np.logaddexp(values.dtype.type(0), scaled) / values.dtype.type(beta)
    return np.where(scaled > threshold, values, smooth)


class Activation(Layer):
    """A nonlinearity on its own; softmax runs over the channels."""

    type: Literal["activation"] = "activation"
    function: Function
    negative_slope: float = 0.01  # leaky_relu only
    alpha: float = 1.0  # elu only (selu's is fixed)
    beta: Annotated[float, Field(gt=0)] = 1.0  # softplus only
    threshold: float = 20.0  # softplus only

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        return Result(shape, Cost(flops=activation_flops(self.function, shape.numel)))

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """The derivative per value costs the function's FLOPs again; what it keeps is
        its output or its input (see SAVES_OUTPUT)."""
        return Backward(
            flops=result.cost.flops,
            saves=activation_saves(self.function, result.output.numel, own_layer=True),
        )

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return apply_activation(
            values[0].copy(),
            self.function,
            self.negative_slope,
            alpha=self.alpha,
            beta=self.beta,
            threshold=self.threshold,
        )


def _per_channel(weight, ndim: int):
    """A [C] weight shaped to multiply [batch, C, *spatial] values."""
    return weight.reshape(1, -1, *(1,) * (ndim - 2))


class PReLU(Layer):
    """Leaky ReLU with a learnable slope (He et al. 2015, eq. 1): one slope for all
    channels, or one per channel.

    PyTorch's nn.PReLU(num_parameters): its weight holds 1 or C slopes (its initial value,
    0.25, changes no figure). x if x >= 0 else a*x: a comparison and a multiply per value.
    """

    type: Literal["prelu"] = "prelu"
    num_parameters: PositiveInt = 1

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        if self.num_parameters not in (1, shape.channels):
            raise ConvCalcError(
                f"num_parameters {self.num_parameters} is neither 1 nor the input's"
                f" {shape.channels} channels",
                field="num_parameters",
            )
        return Result(shape, Cost(params=self.num_parameters, flops=2 * shape.numel))

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Its input, for both gradients (PyTorch's _prelu_kernel_backward)."""
        return affine_backward(result.output, 2, result.cost.flops, (Saved.input(),))

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """PyTorch's weight [num_parameters]: slopes drawn away from 0 and 1."""
        import numpy as np

        return {"weight": rng.uniform(0.1, 0.5, self.num_parameters).astype(np.float32)}

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        import numpy as np

        slope = _per_channel(weights["weight"], values[0].ndim)
        return np.where(values[0] >= 0, values[0], values[0] * slope)


class Scale(Layer):
    """A learnable per-channel scale, gamma * x (ConvNeXt's layer scale, Liu et al. 2022,
    after Touvron et al. 2021): C params, one multiply per value, no MAC (the convention's
    MACs are those of conv and dense, as for batchnorm's scale)."""

    type: Literal["scale"] = "scale"

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        return Result(shape, Cost(params=shape.channels, flops=shape.numel))

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """gamma * x keeps x for gamma's gradient, when gamma trains (mul's rule: an
        operand is kept for the other's gradient)."""
        saves = (Saved.input(when=WEIGHTS_TRAIN),)
        return affine_backward(result.output, 2, result.cost.flops, saves)

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """gamma as `weight` [C] (torchvision's ConvNeXt holds it as layer_scale [C, 1, 1])."""
        import numpy as np

        return {"weight": rng.uniform(0.5, 1.5, inputs.only.channels).astype(np.float32)}

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0] * _per_channel(weights["weight"], values[0].ndim)


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

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Training normalizes by the batch's statistics: autograd keeps the input and the
        per-channel mean and inverse std (float32, one of each per channel for the batch:
        native_batch_norm's save_mean and save_invstd). Weight and bias gradients: 3 FLOPs
        per value; the input's: the forward's 2 (a convention: see README "Training")."""
        channels = inputs.only.channels
        saves = (
            Saved.input(),
            Saved.new(2 * channels, STATISTICS_BYTES, per_batch=True),
        )
        return affine_backward(result.output, 3, result.cost.flops, saves)

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

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Training keeps the mask of the values kept, one bool a value (CUDA's fused
        native_dropout; PyTorch's CPU path keeps it as floats), and applies it to the
        gradient: one multiply a value. p = 0 is the identity (PyTorch saves nothing)."""
        if self.p == 0:
            return Backward()
        values = result.output.numel
        return Backward(flops=values, saves=(Saved.new(values, MASK_BYTES),))

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0]
