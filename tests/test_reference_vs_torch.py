"""The NumPy reference's values against PyTorch's, on configurations drawn by hypothesis.

Each case is a one- or two-layer spec run by `convcalc.verification` with `keep_arrays`: the
saved input and weights (PyTorch layouts, as `--save` writes them) go through
torch.nn.functional in float32, and the outputs must agree to 1e-4 of their scale
(rtol 1e-4, atol 1e-4 times the largest expected magnitude: float32 sums in another order
differ by more than 1e-4 relative where they cancel to near zero).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from convcalc.dims import Window  # noqa: E402
from convcalc.errors import ConvCalcError  # noqa: E402
from convcalc.layers.elementwise import apply_activation  # noqa: E402
from convcalc.numeric import Kernels  # noqa: E402
from convcalc.spec import build  # noqa: E402
from convcalc.verification import verify  # noqa: E402

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
RTOL = 1e-4

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
MAX_UNPOOL = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}
# Largest spatial size drawn, by rank: small enough for ~100 cases a second.
LARGEST = {1: 12, 2: 9, 3: 6}


def reference(input_shape: list[int], *layers: dict, batch: int = 2) -> dict[str, np.ndarray]:
    """The --save arrays of a run; the case is rejected when convcalc refuses the spec."""
    try:
        network = build({"input": input_shape, "batch": batch, "layers": list(layers)})
        return verify(network, keep_arrays=True).arrays
    except ConvCalcError:
        assume(False)
        raise


def torch_accepts(function, *args, **kwargs):
    """PyTorch's result; the case is rejected where PyTorch refuses what convcalc accepts
    (avg_pool3d wants the kernel within the unpadded input: the oracle tests pin those)."""
    try:
        return function(*args, **kwargs)
    except RuntimeError:
        assume(False)
        raise


def tensor(arrays: dict[str, np.ndarray], key: str):
    """A saved array as a torch tensor, or None when the run has no such key (no bias)."""
    return torch.from_numpy(arrays[key]) if key in arrays else None


def assert_close(actual: np.ndarray, expected) -> None:
    """Equal to 1e-4 of the values' scale."""
    expected = expected.detach().numpy()
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale + 1e-30)


def input_of(arrays):
    return torch.from_numpy(arrays["input"])


@st.composite
def spatial(draw, dims: int, smallest: int = 1) -> list[int]:
    return [draw(st.integers(smallest, LARGEST[dims])) for _ in range(dims)]


@st.composite
def per_dim(draw, dims: int, low: int, high: int):
    """One int for every dim, or a list of one per dim."""
    if draw(st.booleans()):
        return draw(st.integers(low, high))
    return [draw(st.integers(low, high)) for _ in range(dims)]


def each(value, dims: int) -> list[int]:
    return list(value) if isinstance(value, list) else [value] * dims


def same_pads(sizes, kernel, stride, dilation) -> list[tuple[int, int]]:
    """TensorFlow's 'same': total max((ceil(n/s) - 1)*s + d*(k-1) + 1 - n, 0), odd one after."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, stride, dilation, strict=True):
        total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def torch_pad(values, pads: list[tuple[int, int]]):
    """F.pad takes the last dim first."""
    flat = [side for before_after in reversed(pads) for side in before_after]
    return F.pad(values, flat)


@st.composite
def conv_case(draw):
    dims = draw(st.integers(1, 3))
    sizes = draw(spatial(dims, 2))
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel = draw(per_dim(dims, 1, 3))
    stride = draw(per_dim(dims, 1, 3))
    dilation = draw(per_dim(dims, 1, 2))
    form = draw(st.sampled_from(["int", "list", "pairs", "valid", "same"]))
    if form == "int":
        padding = draw(st.integers(0, 2))
    elif form == "list":
        padding = [draw(st.integers(0, 2)) for _ in range(dims)]
    elif form == "pairs":
        padding = [[draw(st.integers(0, 2)), draw(st.integers(0, 2))] for _ in range(dims)]
    else:
        padding = form
    layer = {
        "type": "conv",
        "out_channels": out_channels,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    return [in_channels, *sizes], layer


@SETTINGS
@given(conv_case())
def test_conv(case):
    input_shape, layer = case
    arrays = reference(input_shape, layer)
    dims = len(input_shape) - 1
    kernel, stride, dilation = (
        each(layer[key], dims) for key in ("kernel_size", "stride", "dilation")
    )
    padding = layer["padding"]
    if padding == "same":
        pads = same_pads(input_shape[1:], kernel, stride, dilation)
    elif padding == "valid":
        pads = [(0, 0)] * dims
    else:
        pads = [
            tuple(side) if isinstance(side, list) else (side, side) for side in each(padding, dims)
        ]
    expected = CONV[dims](
        torch_pad(input_of(arrays), pads),
        tensor(arrays, "conv1/weight"),
        tensor(arrays, "conv1/bias"),
        stride=stride,
        dilation=dilation,
        groups=layer["groups"],
    )
    assert_close(arrays["conv1/output"], expected)


@st.composite
def conv_transpose_case(draw):
    dims = draw(st.integers(1, 3))
    sizes = draw(spatial(dims))
    groups = draw(st.integers(1, 2))
    stride = [draw(st.integers(1, 3)) for _ in range(dims)]
    dilation = [draw(st.integers(1, 2)) for _ in range(dims)]
    output_padding = [
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    ]
    layer = {
        "type": "conv_transpose",
        "out_channels": groups * draw(st.integers(1, 2)),
        "kernel_size": draw(per_dim(dims, 1, 4)),
        "stride": stride,
        "padding": draw(per_dim(dims, 0, 2)),
        "output_padding": output_padding,
        "dilation": dilation,
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    return [groups * draw(st.integers(1, 2)), *sizes], layer


@SETTINGS
@given(conv_transpose_case())
def test_conv_transpose(case):
    input_shape, layer = case
    arrays = reference(input_shape, layer)
    dims = len(input_shape) - 1
    expected = CONV_T[dims](
        input_of(arrays),
        tensor(arrays, "conv_transpose1/weight"),
        tensor(arrays, "conv_transpose1/bias"),
        stride=layer["stride"],
        padding=each(layer["padding"], dims),
        output_padding=layer["output_padding"],
        groups=layer["groups"],
        dilation=layer["dilation"],
    )
    assert_close(arrays["conv_transpose1/output"], expected)


@st.composite
def conv_transpose_output_size_case(draw):
    """A conv_transpose case with output_size drawn in PyTorch's valid range."""
    input_shape, layer = draw(conv_transpose_case())
    del layer["output_padding"]
    dims = len(input_shape) - 1
    kernel, padding = each(layer["kernel_size"], dims), each(layer["padding"], dims)
    smallest = [
        (n - 1) * s - 2 * p + d * (k - 1) + 1
        for n, s, p, d, k in zip(
            input_shape[1:], layer["stride"], padding, layer["dilation"], kernel, strict=True
        )
    ]
    assume(all(low + s - 1 >= 1 for low, s in zip(smallest, layer["stride"], strict=True)))
    layer["output_size"] = [
        draw(st.integers(max(low, 1), low + s - 1))
        for low, s in zip(smallest, layer["stride"], strict=True)
    ]
    return input_shape, layer


@SETTINGS
@given(conv_transpose_output_size_case())
def test_conv_transpose_output_size(case):
    input_shape, layer = case
    arrays = reference(input_shape, layer)
    dims = len(input_shape) - 1
    conv = getattr(torch.nn, f"ConvTranspose{dims}d")(
        input_shape[0],
        layer["out_channels"],
        layer["kernel_size"],
        stride=layer["stride"],
        padding=layer["padding"],
        groups=layer["groups"],
        bias=layer["bias"],
        dilation=layer["dilation"],
    )
    with torch.no_grad():
        conv.weight.copy_(tensor(arrays, "conv_transpose1/weight"))
        if layer["bias"]:
            conv.bias.copy_(tensor(arrays, "conv_transpose1/bias"))
        expected = conv(input_of(arrays), output_size=layer["output_size"])
    assert_close(arrays["conv_transpose1/output"], expected)


@st.composite
def pool_case(draw):
    dims = draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(dims)]
    layer = {
        "type": draw(st.sampled_from(["max_pool", "avg_pool"])),
        "kernel_size": kernel,
        "stride": [draw(st.integers(1, 3)) for _ in range(dims)],
        "padding": [draw(st.integers(0, k // 2)) for k in kernel],
        "ceil_mode": draw(st.booleans()),
    }
    if layer["type"] == "max_pool":
        layer["dilation"] = [draw(st.integers(1, 2)) for _ in range(dims)]
    else:
        layer["count_include_pad"] = draw(st.booleans())
    return [draw(st.integers(1, 3)), *draw(spatial(dims))], layer


@SETTINGS
@given(pool_case())
def test_pool(case):
    input_shape, layer = case
    arrays = reference(input_shape, layer)
    dims = len(input_shape) - 1
    options = {
        "kernel_size": layer["kernel_size"],
        "stride": layer["stride"],
        "padding": layer["padding"],
        "ceil_mode": layer["ceil_mode"],
    }
    if layer["type"] == "max_pool":
        expected = torch_accepts(
            MAX_POOL[dims], input_of(arrays), dilation=layer["dilation"], **options
        )
        output = arrays["max_pool1/output"]
    else:
        expected = torch_accepts(
            AVG_POOL[dims],
            input_of(arrays),
            count_include_pad=layer["count_include_pad"],
            **options,
        )
        output = arrays["avg_pool1/output"]
    assert_close(output, expected)


@SETTINGS
@given(
    st.integers(1, 3).flatmap(lambda dims: spatial(dims)),
    st.sampled_from(["avg", "max"]),
    st.data(),
)
def test_global_and_adaptive_pools(sizes, kind, data):
    dims = len(sizes)
    output_size = [data.draw(st.integers(1, n + 2)) for n in sizes]
    arrays = reference(
        [2, *sizes],
        {"name": "whole", "type": f"global_{kind}_pool", "inputs": ["input"]},
        {
            "name": "fixed",
            "type": f"adaptive_{kind}_pool",
            "output_size": output_size,
            "inputs": ["input"],
        },
    )
    adaptive = (ADAPTIVE_AVG if kind == "avg" else ADAPTIVE_MAX)[dims]
    assert_close(arrays["whole/output"], adaptive(input_of(arrays), 1))
    assert_close(arrays["fixed/output"], adaptive(input_of(arrays), output_size))


MODES = {
    1: ["nearest", "linear"],
    2: ["nearest", "bilinear", "bicubic"],
    3: ["nearest", "trilinear"],
}


@st.composite
def upsample_case(draw):
    dims = draw(st.integers(1, 3))
    sizes = draw(spatial(dims))
    layer = {"type": "upsample", "mode": draw(st.sampled_from(MODES[dims]))}
    if layer["mode"] != "nearest":
        layer["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        factors = st.sampled_from([0.5, 0.75, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0])
        layer["scale_factor"] = [draw(factors) for _ in range(dims)]
    else:
        layer["size"] = [draw(st.integers(1, 2 * n + 2)) for n in sizes]
    return [draw(st.integers(1, 2)), *sizes], layer


@SETTINGS
@given(upsample_case())
def test_upsample(case):
    input_shape, layer = case
    arrays = reference(input_shape, layer)
    align = layer.get("align_corners")
    expected = F.interpolate(
        input_of(arrays),
        size=layer.get("size"),
        scale_factor=layer.get("scale_factor"),
        mode=layer["mode"],
        align_corners=align,
    )
    assert_close(arrays["upsample1/output"], expected)


@pytest.mark.parametrize(
    ("mode", "align_corners"),
    [("nearest", None), ("bilinear", False), ("bilinear", True), ("bicubic", False)],
)
@pytest.mark.parametrize("other", ["stem", "input"])
def test_upsample_to_the_size_of_another_layer(mode, align_corners, other):
    # DeepLabV3's F.interpolate(x, size=other.shape[-2:]), from a strided map and a 1x1 pool.
    settings = {"mode": mode} | ({} if align_corners is None else {"align_corners": align_corners})
    arrays = reference(
        [2, 9, 13],
        {"name": "stem", "type": "conv", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"name": "down", "type": "conv", "out_channels": 3, "kernel_size": 3, "stride": 2},
        {"name": "up", "type": "upsample", "size_of": other, **settings},
        {"name": "pooled", "type": "adaptive_avg_pool", "output_size": 1, "inputs": ["down"]},
        {"name": "spread", "type": "upsample", "size_of": other, **settings},
    )
    size = arrays[f"{other}/output" if other != "input" else "input"].shape[-2:]
    assert tuple(size) == (9, 13)
    for name, source in (("up", "down"), ("spread", "pooled")):
        expected = F.interpolate(
            tensor(arrays, f"{source}/output"), size=size, mode=mode, align_corners=align_corners
        )
        assert_close(arrays[f"{name}/output"], expected)


@st.composite
def unpool_case(draw):
    dims = draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(dims)]
    stride = [draw(st.integers(1, 3)) for _ in range(dims)]
    padding = [draw(st.integers(0, k // 2)) for k in kernel]
    sizes = draw(spatial(dims, 3))
    pool = {
        "name": "pool",
        "type": "max_pool",
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
    }
    unpool = {"name": "unpool", "type": "max_unpool", "of": "pool"}
    if draw(st.booleans()):
        # PyTorch takes any size strictly within one stride of the default.
        unpool["output_size"] = [
            n + draw(st.integers(-(s - 1), s - 1)) if n > s else n
            for n, s in zip(sizes, stride, strict=True)
        ]
    return [2, *sizes], pool, unpool


@SETTINGS
@given(unpool_case())
def test_max_unpool(case):
    input_shape, pool, unpool = case
    arrays = reference(input_shape, pool, unpool)
    dims = len(input_shape) - 1
    pooled, indices = MAX_POOL[dims](
        input_of(arrays),
        pool["kernel_size"],
        pool["stride"],
        pool["padding"],
        return_indices=True,
    )
    expected = MAX_UNPOOL[dims](
        pooled,
        indices,
        pool["kernel_size"],
        pool["stride"],
        pool["padding"],
        output_size=unpool.get("output_size") or arrays["unpool/output"].shape[2:],
    )
    assert_close(arrays["pool/output"], pooled)
    assert_close(arrays["unpool/output"], expected)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.data())
def test_channel_shuffle(groups, per_group, dims, data):
    sizes = data.draw(spatial(dims))
    channels = groups * per_group
    arrays = reference([channels, *sizes], {"type": "channel_shuffle", "groups": groups})
    expected = torch.nn.ChannelShuffle(groups)(input_of(arrays))
    assert_close(arrays["channel_shuffle1/output"], expected)


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 30), st.booleans())
def test_dense(features, out_features, bias):
    arrays = reference([features], {"type": "dense", "out_features": out_features, "bias": bias})
    expected = F.linear(
        input_of(arrays), tensor(arrays, "dense1/weight"), tensor(arrays, "dense1/bias")
    )
    assert_close(arrays["dense1/output"], expected)


@SETTINGS
@given(st.integers(1, 5), st.integers(0, 3), st.data())
def test_batchnorm_eval(channels, dims, data):
    sizes = data.draw(spatial(dims)) if dims else []
    eps = data.draw(st.sampled_from([1e-5, 1e-3]))
    arrays = reference([channels, *sizes], {"type": "batchnorm", "eps": eps})
    expected = F.batch_norm(
        input_of(arrays),
        tensor(arrays, "batchnorm1/running_mean"),
        tensor(arrays, "batchnorm1/running_var"),
        tensor(arrays, "batchnorm1/weight"),
        tensor(arrays, "batchnorm1/bias"),
        training=False,
        eps=eps,
    )
    assert_close(arrays["batchnorm1/output"], expected)


@SETTINGS
@given(st.integers(1, 6), st.integers(0, 3), st.sampled_from(["channels", "all"]), st.data())
def test_layer_norm(channels, dims, over, data):
    sizes = data.draw(spatial(dims)) if dims else []
    # A group of one value normalizes to 0 exactly, torch to its rounding of x - mean
    # times 1/sqrt(eps): noise, not a value to compare.
    assume(channels * (math.prod(sizes) if over == "all" else 1) > 1)
    eps = data.draw(st.sampled_from([1e-5, 1e-3]))
    affine, bias = data.draw(st.booleans()), data.draw(st.booleans())
    layer = {"name": "ln", "type": "layer_norm", "over": over, "eps": eps}
    layer.update(elementwise_affine=affine, bias=bias)
    arrays = reference([channels, *sizes], layer)
    weight, bias_ = tensor(arrays, "ln/weight"), tensor(arrays, "ln/bias")
    x = input_of(arrays)
    if over == "all":
        expected = F.layer_norm(x, x.shape[1:], weight, bias_, eps)
    else:  # torchvision's LayerNorm2d: over the channels, moved last
        expected = F.layer_norm(x.movedim(1, -1), (channels,), weight, bias_, eps).movedim(-1, 1)
    assert_close(arrays["ln/output"], expected)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 3), st.booleans(), st.data())
def test_group_norm(groups, per_group, dims, affine, data):
    sizes = data.draw(spatial(dims)) if dims else []
    assume(per_group * math.prod(sizes) > 1)  # as for layer norm: no groups of one value
    eps = data.draw(st.sampled_from([1e-5, 1e-3]))
    channels = groups * per_group
    layer = {"name": "gn", "type": "group_norm", "num_groups": groups, "eps": eps}
    arrays = reference([channels, *sizes], {**layer, "affine": affine})
    expected = F.group_norm(
        input_of(arrays), groups, tensor(arrays, "gn/weight"), tensor(arrays, "gn/bias"), eps
    )
    assert_close(arrays["gn/output"], expected)


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 3), st.booleans(), st.booleans(), st.data())
def test_instance_norm(channels, dims, affine, track, data):
    sizes = data.draw(spatial(dims))
    eps = data.draw(st.sampled_from([1e-5, 1e-3]))
    layer = {"name": "in", "type": "instance_norm", "eps": eps, "affine": affine}
    arrays = reference([channels, *sizes], {**layer, "track_running_stats": track})
    expected = F.instance_norm(
        input_of(arrays),
        tensor(arrays, "in/running_mean"),
        tensor(arrays, "in/running_var"),
        tensor(arrays, "in/weight"),
        tensor(arrays, "in/bias"),
        use_input_stats=not track,  # PyTorch's eval mode with running stats uses them
        eps=eps,
    )
    assert_close(arrays["in/output"], expected)


@SETTINGS
@given(st.integers(1, 8), st.integers(1, 3), st.integers(1, 7), st.data())
def test_local_response_norm(channels, dims, size, data):
    sizes = data.draw(spatial(dims))
    alpha = data.draw(st.sampled_from([1e-4, 0.1, 1.0]))
    beta = data.draw(st.sampled_from([0.5, 0.75, 2.0]))
    k = data.draw(st.sampled_from([1.0, 2.0]))
    layer = {"name": "lrn", "type": "lrn", "size": size}
    arrays = reference([channels, *sizes], {**layer, "alpha": alpha, "beta": beta, "k": k})
    expected = F.local_response_norm(input_of(arrays), size, alpha, beta, k)
    assert_close(arrays["lrn/output"], expected)


ACTIVATIONS = {
    "relu": F.relu,
    "relu6": F.relu6,
    "leaky_relu": lambda values: F.leaky_relu(values, 0.2),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "silu": F.silu,
    "hardswish": F.hardswish,
    "softmax": lambda values: F.softmax(values, dim=1),
    "hardsigmoid": F.hardsigmoid,
    "elu": F.elu,
    "selu": F.selu,
    "mish": F.mish,
    "softplus": F.softplus,
    "identity": lambda values: values,
}


@pytest.mark.parametrize("function", ACTIVATIONS)
def test_activation(function):
    layer = {"name": "act", "type": "activation", "function": function, "negative_slope": 0.2}
    arrays = reference([3, 40, 40], layer)
    assert_close(arrays["act/output"], ACTIVATIONS[function](input_of(arrays)))
    # Inputs 8 times wider reach the tails: sigmoid and gelu far below zero, hardswish's
    # corners, softmax's large exponents.
    wide = arrays["input"] * 8
    actual = apply_activation(wide.copy(), function, 0.2)
    assert_close(actual, ACTIVATIONS[function](torch.from_numpy(wide)))


@SETTINGS
@given(st.integers(1, 2), st.integers(1, 3), st.booleans(), st.data())
def test_depthwise_and_separable(multiplier, channels, bias, data):
    sizes = data.draw(spatial(2, 3))
    common = {"kernel_size": 3, "padding": 1, "multiplier": multiplier, "bias": bias}
    arrays = reference(
        [channels, *sizes],
        {"name": "dw", "type": "depthwise_conv", **common, "inputs": ["input"]},
        {"name": "sep", "type": "separable_conv", "out_channels": 4, **common, "inputs": ["input"]},
    )
    x = input_of(arrays)
    depthwise = F.conv2d(
        x, tensor(arrays, "dw/weight"), tensor(arrays, "dw/bias"), padding=1, groups=channels
    )
    assert_close(arrays["dw/output"], depthwise)
    middle = F.conv2d(
        x,
        tensor(arrays, "sep/depthwise_weight"),
        tensor(arrays, "sep/depthwise_bias"),
        padding=1,
        groups=channels,
    )
    separable = F.conv2d(
        middle, tensor(arrays, "sep/pointwise_weight"), tensor(arrays, "sep/pointwise_bias")
    )
    assert_close(arrays["sep/output"], separable)


def test_connection_table_is_a_conv_with_zeros_outside_the_table():
    table = [[0, 1, 2], [1, 2, 3], [0, 3], [0, 1, 2, 3]]
    layer = {
        "name": "C3",
        "type": "conv",
        "out_channels": 4,
        "kernel_size": 3,
        "connection_table": table,
    }
    arrays = reference([4, 8, 8], layer)
    weight = arrays["C3/weight"]
    for out_channel, sources in enumerate(table):
        outside = [c for c in range(4) if c not in sources]
        assert not weight[out_channel, outside].any()
        assert weight[out_channel, sources].all()
    expected = F.conv2d(input_of(arrays), torch.from_numpy(weight), tensor(arrays, "C3/bias"))
    assert_close(arrays["C3/output"], expected)


@pytest.mark.parametrize("activation", [None, "tanh"])
def test_subsample_is_a_window_sum_times_a_coefficient_plus_a_bias(activation):
    layer = {"name": "S2", "type": "subsample", "kernel_size": 2, "activation": activation}
    arrays = reference([3, 8, 8], layer)
    summed = F.avg_pool2d(input_of(arrays), 2) * 4
    expected = summed * tensor(arrays, "S2/weight").view(1, -1, 1, 1) + tensor(
        arrays, "S2/bias"
    ).view(1, -1, 1, 1)
    if activation:
        expected = torch.tanh(expected)
    assert_close(arrays["S2/output"], expected)


def test_seed_maxpool2d_example():
    """Seed 001: nn.MaxPool2d(kernel_size=3, padding=1, stride=(2, 1)) on
    torch.arange(32).view(1, 2, 4, 4) keeps the window maxima of rows 0 and 2."""
    values = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    windows = (Window(3, 2, 1, 1), Window(3, 1, 1, 1))
    result = Kernels().pool(values, windows, "max")
    expected = [[[[5, 6, 7, 7], [13, 14, 15, 15]], [[21, 22, 23, 23], [29, 30, 31, 31]]]]
    np.testing.assert_array_equal(result, expected)
    torch_result = torch.nn.MaxPool2d(kernel_size=3, padding=1, stride=(2, 1))(
        torch.from_numpy(values)
    )
    np.testing.assert_array_equal(torch_result.numpy(), expected)


@SETTINGS
@given(
    st.sampled_from(["elu", "softplus"]),
    st.floats(0.1, 3),
    st.floats(0.25, 4),
    st.floats(-2, 20),
)
def test_elu_alpha_and_softplus_beta_threshold(function, alpha, beta, threshold):
    layer = {"name": "act", "type": "activation", "function": function}
    layer |= {"alpha": alpha} if function == "elu" else {"beta": beta, "threshold": threshold}
    arrays = reference([2, 9, 9], layer)
    x = input_of(arrays) * 4
    actual = apply_activation(arrays["input"] * 4, function, alpha=alpha, beta=beta,
                              threshold=threshold)  # fmt: skip
    if function == "elu":
        expected = F.elu(x, alpha)
        assert_close(arrays["act/output"], F.elu(input_of(arrays), alpha))
    else:
        expected = F.softplus(x, beta, threshold)
        assert_close(arrays["act/output"], F.softplus(input_of(arrays), beta, threshold))
    assert_close(actual, expected)


@SETTINGS
@given(st.integers(1, 4), st.integers(0, 3), st.booleans(), st.data())
def test_prelu(channels, dims, per_channel, data):
    sizes = data.draw(spatial(dims)) if dims else []
    layer = {"name": "act", "type": "prelu", "num_parameters": channels if per_channel else 1}
    arrays = reference([channels, *sizes], layer)
    expected = F.prelu(input_of(arrays), tensor(arrays, "act/weight"))
    assert_close(arrays["act/output"], expected)


@SETTINGS
@given(st.integers(1, 4), st.integers(0, 3), st.data())
def test_scale(channels, dims, data):
    sizes = data.draw(spatial(dims)) if dims else []
    arrays = reference([channels, *sizes], {"name": "gamma", "type": "scale"})
    weight = tensor(arrays, "gamma/weight").reshape(channels, *(1,) * dims)
    assert_close(arrays["gamma/output"], weight * input_of(arrays))


@SETTINGS
@given(st.sampled_from(["add", "multiply"]), st.integers(1, 3), st.integers(2, 3), st.data())
def test_broadcast_add_and_multiply(kind, dims, count, data):
    """Operands of C or 1 channels, each the map or a global 1x1 (SE's gate), broadcast."""
    sizes = data.draw(spatial(dims, 2))
    channels = data.draw(st.integers(1, 3))
    layers, names = [], []
    for index in range(count):
        width = data.draw(st.sampled_from([channels, 1]))
        layers.append({"name": f"c{index}", "type": "conv", "out_channels": width,
                       "kernel_size": 1, "inputs": ["input"]})  # fmt: skip
        if data.draw(st.booleans()):
            layers.append({"name": f"g{index}", "type": "global_max_pool"})
        names.append(layers[-1]["name"])
    layers.append({"name": "join", "type": kind, "inputs": names})
    arrays = reference([channels, *sizes], *layers)
    operands = [torch.from_numpy(arrays[f"{name}/output"]) for name in names]
    expected = operands[0]
    for operand in operands[1:]:
        expected = expected + operand if kind == "add" else expected * operand
    assert_close(arrays["join/output"], expected)


def torch_center_crop(x, size):
    """torchvision.transforms.functional.center_crop's arithmetic on a tensor (torchvision
    itself is not imported): the crop starts at int(round((n - target) / 2.0))."""
    top = int(round((x.shape[-2] - size[0]) / 2.0))
    left = int(round((x.shape[-1] - size[1]) / 2.0))
    return x[..., top : top + size[0], left : left + size[1]]


# (input, the middle conv's kernel): differences of 4, 5 (2 + 3), and with a 2x2 middle
# conv 3 (2 + 1: a half rounded up to even, where floor would start at 1) and 2.
@pytest.mark.parametrize(
    ("spatial", "kernel"), [((20, 20), 3), ((21, 23), 3), ((21, 22), 2), ((27, 19), 2)]
)
def test_a_unet_level_with_a_cropped_skip(spatial, kernel):
    """One level of the paper's U-Net: valid convs, a pool, an up-conv, the skip cropped
    `to:` the up-convolved map and concatenated; at odd sizes the pool floors and the crops
    are off centre, and the values must still be PyTorch's with center_crop's offsets."""
    arrays = reference(
        [2, *spatial],
        {"name": "enc", "type": "conv", "out_channels": 3, "kernel_size": 3},
        {"name": "pool", "type": "max_pool", "kernel_size": 2},
        {"name": "mid", "type": "conv", "out_channels": 4, "kernel_size": kernel},
        {"name": "up", "type": "conv_transpose", "out_channels": 3, "kernel_size": 2, "stride": 2},
        {"name": "crop", "type": "crop", "to": "up", "inputs": ["enc"]},
        {"name": "cat", "type": "concat", "inputs": ["crop", "up"]},
    )
    x = torch.from_numpy(arrays["input"])
    enc = F.conv2d(x, tensor(arrays, "enc/weight"), tensor(arrays, "enc/bias"))
    mid = F.conv2d(F.max_pool2d(enc, 2), tensor(arrays, "mid/weight"), tensor(arrays, "mid/bias"))
    up = F.conv_transpose2d(mid, tensor(arrays, "up/weight"), tensor(arrays, "up/bias"), stride=2)
    expected = torch.cat([torch_center_crop(enc, up.shape[-2:]), up], 1)
    assert_close(arrays["cat/output"], expected)
