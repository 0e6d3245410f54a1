"""PyTorch as an independent oracle for convcalc's shapes, params, MACs and connections.

Hypothesis draws small random layer configurations; each is analyzed by convcalc and run by
torch (batch 1), and the figures must agree:

* output shape: the shape torch produces on a random input;
* params (and buffers): what the torch module holds;
* connections (LeNet's definition: per output value, the real, non-padding input values it
  reads, plus one for the bias): the same layer run with all-ones weights on an all-ones
  input, padding contributing zeros, summed; for adaptive pools and upsampling, one one-hot
  input per position, counting the outputs that give it a non-zero weight;
* MACs: closed forms written here, independently of convcalc's code.

Configurations are drawn valid for torch; a few tests draw possibly invalid ones and check
that convcalc refuses exactly what torch refuses. Known engine discrepancies are pinned by
strict xfail tests and skipped, precisely, in the property tests.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from convcalc.analysis import Report, analyze  # noqa: E402
from convcalc.errors import ConvCalcError  # noqa: E402
from convcalc.spec import build  # noqa: E402

nn = torch.nn

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FEW = settings(SETTINGS, max_examples=30)

# How far above the smallest valid size a spatial size may go, by spatial rank.
EXTRA_SIZE = {1: 6, 2: 4, 3: 2}

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MODES_BY_RANK = {1: ["linear"], 2: ["bilinear", "bicubic"], 3: ["trilinear"]}
TORCH_ERRORS = (RuntimeError, ValueError)
FLOATS = (torch.float32, torch.float64)


# ---------------------------------------------------------------------------------------
# helpers


def run(input_shape, *layers: dict) -> Report:
    """convcalc's report for a network of `layers` on `input_shape` (channels first)."""
    return analyze(build({"input": list(input_shape), "layers": list(layers)}))


def outcome(function):
    """The value of function(), or 'error' if it raises (ConvCalcError or torch's errors).

    A shape with a zero in it counts as an error too: torch returns an empty tensor where
    some sizes come out 0 (conv_transpose, max_unpool), convcalc refuses such a layer.
    """
    try:
        result = function()
    except (ConvCalcError, *TORCH_ERRORS):
        return "error"
    return "error" if isinstance(result, tuple) and 0 in result else result


def module(kind: str, dims: int, *args, **kwargs):
    """torch.nn.<kind><dims>d(*args, **kwargs)."""
    return getattr(nn, f"{kind}{dims}d")(*args, **kwargs)


def torch_params(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def torch_buffers(*modules) -> int:
    """Running statistics; the batch counter is bookkeeping, not model state."""
    return sum(
        b.numel()
        for m in modules
        for name, b in m.named_buffers()
        if not name.endswith("num_batches_tracked")
    )


def prod(values) -> int:
    return math.prod(values)


def pad_arg(pairs) -> list[int]:
    """F.pad's argument for per-dim (before, after) pairs: last dim first."""
    return [side for before, after in reversed(pairs) for side in (before, after)]


def tf_same(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding: out = ceil(n / s), the odd one out going after."""
    total = max((-(-size // stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def shape_of(tensor) -> tuple[int, ...]:
    """Shape without the batch dim."""
    return tuple(tensor.shape[1:])


def ones(channels: int, spatial, dtype=torch.float64):
    return torch.ones(1, channels, *spatial, dtype=dtype)


def draw_size_arg(data, dims: int, values, label: str):
    """An int for every dim or a list with one per dim: (spec value, per-dim tuple)."""
    if data.draw(st.booleans(), label=f"{label} per dim"):
        per = data.draw(st.lists(values, min_size=dims, max_size=dims), label=label)
        return per, tuple(per)
    value = data.draw(values, label=label)
    return value, (value,) * dims


def draw_padding(data, dims: int, forms, max_pad: int = 2):
    """(spec value, form, per-dim (before, after) pairs or None for 'same')."""
    form = data.draw(st.sampled_from(forms), label="padding form")
    pads = st.integers(0, max_pad)
    if form == "int":
        value = data.draw(pads, label="padding")
        return value, form, ((value, value),) * dims
    if form == "per_dim":
        per = data.draw(st.lists(pads, min_size=dims, max_size=dims), label="padding")
        return per, form, tuple((p, p) for p in per)
    if form == "pairs":
        entries = data.draw(
            st.lists(pads | st.lists(pads, min_size=2, max_size=2), min_size=dims, max_size=dims),
            label="padding",
        )
        pairs = tuple((e, e) if isinstance(e, int) else (e[0], e[1]) for e in entries)
        return entries, form, pairs
    if form == "valid":
        return "valid", form, ((0, 0),) * dims
    return "same", form, None


def draw_sizes(data, dims: int, lows) -> tuple[int, ...]:
    """Spatial sizes from each dim's smallest valid size up to a few more."""
    return tuple(
        data.draw(st.integers(low, low + EXTRA_SIZE[dims]), label=f"size {axis + 1}")
        for axis, low in enumerate(lows)
    )


def conv_route(form: str, pairs, strides):
    """How torch applies a padding: (explicit F.pad pairs or None, conv `padding` argument)."""
    if form == "same" and all(s == 1 for s in strides):
        return None, "same"  # torch's own 'same' (stride 1 only)
    if all(before == after for before, after in pairs):
        return None, tuple(before for before, _ in pairs)
    return pairs, 0


def conv_apply(x, weight, bias, dims, stride, dilation, groups, route):
    """A convolution of x with torch, padding as `route` says."""
    explicit, padding = route
    if explicit is not None:
        x = F.pad(x, pad_arg(explicit))
    return CONV[dims](x, weight, bias, stride, padding, dilation, groups)


def ones_conv_taps(channels_in, spatial, weight_shape, dims, stride, dilation, groups, route):
    """Sum of an all-ones convolution of an all-ones input: the real taps it reads."""
    x = ones(channels_in, spatial)
    weight = torch.ones(weight_shape, dtype=torch.float64)
    return int(conv_apply(x, weight, None, dims, stride, dilation, groups, route).sum())


# ---------------------------------------------------------------------------------------
# convolutions


class _Drawer:
    """Adapts a composite's `draw` to the `data.draw` interface the helpers use."""

    def __init__(self, draw):
        self._draw = draw

    def draw(self, strategy, label=None):
        return self._draw(strategy)


@st.composite
def conv_configs(draw):
    """A random valid sliding-window geometry: (spec fields, resolved geometry).

    The geometry holds the spatial sizes, per-dim kernel, stride and dilation, the padding
    form and its per-dim (before, after) pairs ('same' resolved with TensorFlow's rule).
    """
    data = _Drawer(draw)
    dims = draw(st.integers(1, 3), label="dims")
    kernel_arg, kernel = draw_size_arg(data, dims, st.integers(1, 3), "kernel_size")
    stride_arg, stride = draw_size_arg(data, dims, st.integers(1, 3), "stride")
    dilation_arg, dilation = draw_size_arg(data, dims, st.integers(1, 3), "dilation")
    padding_arg, form, pairs = draw_padding(
        data, dims, ("int", "per_dim", "pairs", "valid", "same")
    )
    extents = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    if pairs is None:
        lows = (1,) * dims
    else:
        lows = tuple(max(1, e - b - a) for e, (b, a) in zip(extents, pairs, strict=True))
    spatial = draw_sizes(data, dims, lows)
    if pairs is None:
        pairs = tuple(map(tf_same, spatial, kernel, stride, dilation))
    fields = {
        "kernel_size": kernel_arg,
        "stride": stride_arg,
        "padding": padding_arg,
        "dilation": dilation_arg,
        "bias": draw(st.booleans(), label="bias"),
    }
    if draw(st.booleans(), label="ranked alias"):  # conv2d for conv on a 2-d input, ...
        fields["rank_alias"] = True
    geometry = {
        "dims": dims,
        "spatial": spatial,
        "kernel": kernel,
        "stride": stride,
        "dilation": dilation,
        "form": form,
        "pairs": pairs,
    }
    return fields, geometry


def layer_spec(type_name: str, fields: dict, dims: int) -> dict:
    fields = dict(fields)
    alias = fields.pop("rank_alias", False)
    return {"type": f"{type_name}{dims}d" if alias else type_name, **fields}


@SETTINGS
@given(config=conv_configs(), data=st.data())
def test_conv(config, data):
    fields, g = config
    dims, spatial = g["dims"], g["spatial"]
    groups = data.draw(st.integers(1, 3), label="groups")
    in_channels = groups * data.draw(st.integers(1, 2), label="in per group")
    out_channels = groups * data.draw(st.integers(1, 2), label="out per group")
    spec = layer_spec("conv", {**fields, "out_channels": out_channels, "groups": groups}, dims)
    row = run((in_channels, *spatial), spec).layers[-1]

    conv = module(
        "Conv",
        dims,
        in_channels,
        out_channels,
        g["kernel"],
        g["stride"],
        0,
        g["dilation"],
        groups,
        bias=fields["bias"],
    )
    route = conv_route(g["form"], g["pairs"], g["stride"])
    x = torch.randn(1, in_channels, *spatial)
    with torch.no_grad():
        y = conv_apply(x, conv.weight, conv.bias, dims, g["stride"], g["dilation"], groups, route)
    assert row.output_shape == shape_of(y)
    assert row.params == torch_params(conv)
    assert row.buffers == torch_buffers(conv) == 0
    macs = y[0].numel() * (in_channels // groups) * prod(g["kernel"])
    assert row.macs == macs
    taps = ones_conv_taps(
        in_channels, spatial, conv.weight.shape, dims, g["stride"], g["dilation"], groups, route
    )
    assert row.connections == taps + (y.numel() if fields["bias"] else 0)


@SETTINGS
@given(data=st.data())
def test_conv_same_padding_is_tensorflow_rule(data):
    """'same' gives ceil(n / s) outputs for any stride; with stride 1 it is torch's 'same'."""
    dims = data.draw(st.integers(1, 3), label="dims")
    _, kernel = draw_size_arg(data, dims, st.integers(1, 4), "kernel")
    _, stride = draw_size_arg(data, dims, st.integers(1, 3), "stride")
    _, dilation = draw_size_arg(data, dims, st.integers(1, 3), "dilation")
    spatial = draw_sizes(data, dims, (1,) * dims)
    spec = {
        "type": "conv",
        "out_channels": 2,
        "kernel_size": list(kernel),
        "stride": list(stride),
        "dilation": list(dilation),
        "padding": "same",
    }
    row = run((1, *spatial), spec).layers[-1]
    assert row.output_shape[1:] == tuple(-(-n // s) for n, s in zip(spatial, stride, strict=True))
    if all(s == 1 for s in stride):
        conv = module("Conv", dims, 1, 2, kernel, 1, "same", dilation)
        with torch.no_grad():
            assert row.output_shape == shape_of(conv(torch.randn(1, 1, *spatial)))


@SETTINGS
@given(config=conv_configs(), data=st.data())
def test_depthwise_conv(config, data):
    fields, g = config
    dims, spatial = g["dims"], g["spatial"]
    in_channels = data.draw(st.integers(1, 3), label="in_channels")
    multiplier = data.draw(st.integers(1, 3), label="multiplier")
    spec = layer_spec("depthwise_conv", {**fields, "multiplier": multiplier}, dims)
    row = run((in_channels, *spatial), spec).layers[-1]

    out_channels = in_channels * multiplier
    conv = module(
        "Conv",
        dims,
        in_channels,
        out_channels,
        g["kernel"],
        g["stride"],
        0,
        g["dilation"],
        in_channels,
        bias=fields["bias"],
    )
    route = conv_route(g["form"], g["pairs"], g["stride"])
    args = (dims, g["stride"], g["dilation"], in_channels, route)
    with torch.no_grad():
        y = conv_apply(torch.randn(1, in_channels, *spatial), conv.weight, conv.bias, *args)
    assert row.output_shape == shape_of(y) and y.shape[1] == out_channels
    assert row.params == torch_params(conv)
    assert row.macs == y[0].numel() * 1 * prod(g["kernel"])
    taps = ones_conv_taps(in_channels, spatial, conv.weight.shape, *args)
    assert row.connections == taps + (y.numel() if fields["bias"] else 0)


@SETTINGS
@given(config=conv_configs(), data=st.data())
def test_separable_conv(config, data):
    fields, g = config
    dims, spatial = g["dims"], g["spatial"]
    in_channels = data.draw(st.integers(1, 3), label="in_channels")
    multiplier = data.draw(st.integers(1, 2), label="multiplier")
    out_channels = data.draw(st.integers(1, 4), label="out_channels")
    spec = layer_spec(
        "separable_conv", {**fields, "multiplier": multiplier, "out_channels": out_channels}, dims
    )
    row = run((in_channels, *spatial), spec).layers[-1]

    bias = fields["bias"]
    middle = in_channels * multiplier
    depthwise = module(
        "Conv",
        dims,
        in_channels,
        middle,
        g["kernel"],
        g["stride"],
        0,
        g["dilation"],
        in_channels,
        bias=bias,
    )
    pointwise = module("Conv", dims, middle, out_channels, 1, bias=bias)
    route = conv_route(g["form"], g["pairs"], g["stride"])
    args = (dims, g["stride"], g["dilation"], in_channels, route)
    with torch.no_grad():
        mid = conv_apply(
            torch.randn(1, in_channels, *spatial), depthwise.weight, depthwise.bias, *args
        )
        y = pointwise(mid)
    assert row.output_shape == shape_of(y)
    assert [part.name for part in row.parts] == ["depthwise", "pointwise"]
    assert row.parts[0].output.as_tuple() == shape_of(mid)
    assert row.parts[1].output.as_tuple() == shape_of(y)
    assert row.params == torch_params(depthwise, pointwise)
    depthwise_macs = mid[0].numel() * prod(g["kernel"])
    pointwise_macs = y[0].numel() * middle
    assert row.macs == depthwise_macs + pointwise_macs
    assert row.parts[0].cost.macs == depthwise_macs
    depthwise_taps = ones_conv_taps(in_channels, spatial, depthwise.weight.shape, *args)
    pointwise_taps = int(
        F.conv1d(
            ones(middle, (mid[0, 0].numel(),)),
            torch.ones(out_channels, middle, 1, dtype=torch.float64),
        ).sum()
    )
    bias_terms = (mid.numel() + y.numel()) if bias else 0
    assert row.connections == depthwise_taps + pointwise_taps + bias_terms


@SETTINGS
@given(data=st.data())
def test_conv_validity_agrees_with_torch(data):
    """Kernel larger than the padded input, groups not dividing channels: both refuse."""
    dims = data.draw(st.integers(1, 2), label="dims")
    in_channels = data.draw(st.integers(1, 6), label="in")
    out_channels = data.draw(st.integers(1, 6), label="out")
    groups = data.draw(st.integers(1, 4), label="groups")
    kernel = data.draw(st.integers(1, 5), label="kernel")
    dilation = data.draw(st.integers(1, 3), label="dilation")
    padding = data.draw(st.integers(0, 2), label="padding")
    stride = data.draw(st.integers(1, 3), label="stride")
    spatial = tuple(data.draw(st.integers(1, 5), label="size") for _ in range(dims))
    spec = {
        "type": "conv",
        "out_channels": out_channels,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }

    def with_torch():
        conv = module(
            "Conv", dims, in_channels, out_channels, kernel, stride, padding, dilation, groups
        )
        with torch.no_grad():
            return shape_of(conv(torch.randn(1, in_channels, *spatial)))

    mine = outcome(lambda: run((in_channels, *spatial), spec).layers[-1].output_shape)
    assert mine == outcome(with_torch)


@pytest.mark.parametrize(
    ("input_shape", "fields"),
    [
        ((3, 5, 5), {"out_channels": 4, "kernel_size": 3, "groups": 2}),  # in % groups
        ((4, 5, 5), {"out_channels": 3, "kernel_size": 3, "groups": 2}),  # out % groups
        ((1, 4, 4), {"out_channels": 1, "kernel_size": 5}),  # kernel > input
        ((1, 4, 4), {"out_channels": 1, "kernel_size": 7, "padding": 1}),  # > padded input
        ((1, 5), {"out_channels": 1, "kernel_size": 3, "dilation": 3}),  # dilated extent 7
    ],
)
def test_invalid_conv_refused_by_both(input_shape, fields):
    with pytest.raises(ConvCalcError):
        run(input_shape, {"type": "conv", **fields})
    dims = len(input_shape) - 1
    with pytest.raises(TORCH_ERRORS):
        conv = module(
            "Conv",
            dims,
            input_shape[0],
            fields["out_channels"],
            fields["kernel_size"],
            padding=fields.get("padding", 0),
            dilation=fields.get("dilation", 1),
            groups=fields.get("groups", 1),
        )
        conv(torch.randn(1, *input_shape))


# ---------------------------------------------------------------------------------------
# transposed convolution


def conv_transpose_apply(x, weight, bias, dims, stride, dilation, groups, route):
    """Transposed conv with torch. route: ('direct', padding, output_padding) or
    ('crop', pairs, output_padding): no padding, then crop each dim's pairs."""
    how, padding, output_padding = route
    if how == "direct":
        return CONV_T[dims](x, weight, bias, stride, padding, output_padding, groups, dilation)
    y = CONV_T[dims](x, weight, bias, stride, 0, output_padding, groups, dilation)
    index = [slice(None), slice(None)]
    for axis, (before, after) in enumerate(padding):
        index.append(slice(before, y.shape[2 + axis] - after))
    return y[tuple(index)]


@SETTINGS
@given(data=st.data())
def test_conv_transpose(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    groups = data.draw(st.integers(1, 2), label="groups")
    in_channels = groups * data.draw(st.integers(1, 2), label="in per group")
    out_channels = groups * data.draw(st.integers(1, 2), label="out per group")
    kernel_arg, kernel = draw_size_arg(data, dims, st.integers(1, 3), "kernel_size")
    stride_arg, stride = draw_size_arg(data, dims, st.integers(1, 3), "stride")
    dilation_arg, dilation = draw_size_arg(data, dims, st.integers(1, 2), "dilation")
    padding_arg, form, pairs = draw_padding(data, dims, ("int", "per_dim", "pairs", "same"))
    bias = data.draw(st.booleans(), label="bias")
    spatial = draw_sizes(data, dims, (1,) * dims)
    fields = {
        "out_channels": out_channels,
        "kernel_size": kernel_arg,
        "stride": stride_arg,
        "padding": padding_arg,
        "dilation": dilation_arg,
        "groups": groups,
        "bias": bias,
    }
    extents = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    if form == "same":
        # Keras: the output is n * stride; crop (or extend) the full output to it.
        pairs, output_padding = [], []
        for extent, s in zip(extents, stride, strict=True):
            total = extent - s
            pairs.append((max(total, 0) // 2, max(total, 0) - max(total, 0) // 2))
            output_padding.append(max(-total, 0))
        pairs, output_padding = tuple(pairs), tuple(output_padding)
        route = ("crop", pairs, output_padding)
    else:
        output_padding = tuple(
            data.draw(st.integers(0, max(s, d) - 1), label="output_padding")
            for s, d in zip(stride, dilation, strict=True)
        )
        fields["output_padding"] = list(output_padding)
        if form == "pairs":
            route = ("crop", pairs, output_padding)
        else:
            route = ("direct", tuple(b for b, _ in pairs), output_padding)
    expected = tuple(
        (n - 1) * s - b - a + e + op
        for n, s, (b, a), e, op in zip(spatial, stride, pairs, extents, output_padding, strict=True)
    )
    if min(expected) < 1:
        with pytest.raises(ConvCalcError):
            run((in_channels, *spatial), {"type": "conv_transpose", **fields})
        return
    row = run((in_channels, *spatial), {"type": "conv_transpose", **fields}).layers[-1]

    conv = module(
        "ConvTranspose",
        dims,
        in_channels,
        out_channels,
        kernel,
        stride,
        groups=groups,
        bias=bias,
        dilation=dilation,
    )
    args = (dims, stride, dilation, groups, route)
    with torch.no_grad():
        y = conv_transpose_apply(
            torch.randn(1, in_channels, *spatial), conv.weight, conv.bias, *args
        )
    assert row.output_shape == shape_of(y)
    if form == "same":
        assert row.output_shape[1:] == tuple(n * s for n, s in zip(spatial, stride, strict=True))
    assert row.params == torch_params(conv)
    assert row.macs == in_channels * prod(spatial) * (out_channels // groups) * prod(kernel)
    weight = torch.ones(conv.weight.shape, dtype=torch.float64)
    taps = int(conv_transpose_apply(ones(in_channels, spatial), weight, None, *args).sum())
    assert row.connections == taps + (y.numel() if bias else 0)


@SETTINGS
@given(data=st.data())
def test_conv_transpose_validity_agrees_with_torch(data):
    """Groups, output_padding >= max(stride, dilation), sizes below 1: both refuse."""
    dims = data.draw(st.integers(1, 2), label="dims")
    in_channels = data.draw(st.integers(1, 4), label="in")
    out_channels = data.draw(st.integers(1, 4), label="out")
    groups = data.draw(st.integers(1, 3), label="groups")
    kernel = data.draw(st.integers(1, 3), label="kernel")
    stride = data.draw(st.integers(1, 3), label="stride")
    dilation = data.draw(st.integers(1, 2), label="dilation")
    padding = data.draw(st.integers(0, 3), label="padding")
    output_padding = data.draw(st.integers(0, 3), label="output_padding")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    spec = {
        "type": "conv_transpose",
        "out_channels": out_channels,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "dilation": dilation,
        "groups": groups,
    }

    def with_torch():
        conv = module(
            "ConvTranspose",
            dims,
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            output_padding,
            groups,
            dilation=dilation,
        )
        with torch.no_grad():
            return shape_of(conv(torch.randn(1, in_channels, *spatial)))

    mine = outcome(lambda: run((in_channels, *spatial), spec).layers[-1].output_shape)
    assert mine == outcome(with_torch)


@SETTINGS
@given(data=st.data())
def test_conv_transpose_output_size(data):
    """forward(output_size=...): the same shape, params, MACs and connections, or both
    refuse (sizes outside [smallest, smallest + stride - 1])."""
    dims = data.draw(st.integers(1, 2), label="dims")
    groups = data.draw(st.integers(1, 2), label="groups")
    in_channels = groups * data.draw(st.integers(1, 2), label="in per group")
    out_channels = groups * data.draw(st.integers(1, 2), label="out per group")
    kernel = data.draw(st.integers(1, 3), label="kernel")
    stride = data.draw(st.integers(1, 3), label="stride")
    dilation = data.draw(st.integers(1, 2), label="dilation")
    padding = data.draw(st.integers(0, 2), label="padding")
    bias = data.draw(st.booleans(), label="bias")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    smallest = [(n - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1 for n in spatial]
    output_size = [
        data.draw(st.integers(max(1, low - 1), max(1, low + stride)), label="output_size")
        for low in smallest
    ]
    spec = {
        "type": "conv_transpose",
        "out_channels": out_channels,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "bias": bias,
        "output_size": output_size,
    }
    conv = module(
        "ConvTranspose",
        dims,
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
        groups=groups,
        bias=bias,
        dilation=dilation,
    )

    def with_torch():
        with torch.no_grad():
            return shape_of(conv(torch.randn(1, in_channels, *spatial), output_size=output_size))

    mine = outcome(lambda: run((in_channels, *spatial), spec).layers[-1].output_shape)
    assert mine == outcome(with_torch)
    if mine == "error":
        return
    row = run((in_channels, *spatial), spec).layers[-1]
    assert row.params == torch_params(conv)
    assert row.macs == in_channels * prod(spatial) * (out_channels // groups) * kernel**dims
    conv = conv.double()
    with torch.no_grad():
        conv.weight.fill_(1.0)
        if bias:
            conv.bias.zero_()
        taps = conv(ones(in_channels, spatial), output_size=output_size)
    assert row.connections == int(taps.sum()) + (taps.numel() if bias else 0)


def test_conv_transpose_output_size_refusal_matches_torch():
    """Both refuse 5 where a 2x2 input's stride-2 output may be 3 or 4."""
    conv = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"valid sizes range from \[3, 3\] to \[4, 4\]"):
        conv(torch.randn(1, 1, 2, 2), output_size=[4, 5])
    with pytest.raises(ConvCalcError, match=r"5 in spatial dim 2 .* range \[3, 4\]"):
        run((1, 2, 2), {"type": "conv_transpose", "out_channels": 1, "kernel_size": 3,
                        "stride": 2, "padding": 1, "output_size": [4, 5]})  # fmt: skip


# ---------------------------------------------------------------------------------------
# pooling


def draw_pool(data, dims: int, dilated: bool):
    """(spec fields, kernel, stride, padding, dilation, ceil_mode) of a valid pool."""
    kernel_arg, kernel = draw_size_arg(data, dims, st.integers(1, 3), "kernel_size")
    fields = {"kernel_size": kernel_arg}
    stride = kernel
    if data.draw(st.booleans(), label="explicit stride"):
        stride_arg, stride = draw_size_arg(data, dims, st.integers(1, 3), "stride")
        fields["stride"] = stride_arg
    if data.draw(st.booleans(), label="padding per dim"):
        padding = tuple(data.draw(st.integers(0, k // 2), label="padding") for k in kernel)
        fields["padding"] = list(padding)
    else:
        p = data.draw(st.integers(0, min(kernel) // 2), label="padding")
        padding = (p,) * dims
        fields["padding"] = p
    dilation = (1,) * dims
    if dilated:
        dilation_arg, dilation = draw_size_arg(data, dims, st.integers(1, 2), "dilation")
        fields["dilation"] = dilation_arg
    ceil_mode = data.draw(st.booleans(), label="ceil_mode")
    fields["ceil_mode"] = ceil_mode
    return fields, kernel, stride, padding, dilation, ceil_mode


def pool_taps(channels, spatial, out_spatial, kernel, stride, padding, dilation) -> int:
    """Real input values read by every window of a pool, summed."""
    return int(window_taps(channels, spatial, out_spatial, kernel, stride, padding, dilation).sum())


def window_taps(channels, spatial, out_spatial, kernel, stride, padding, dilation):
    """Real input values read by each window of a pool: a depthwise all-ones convolution.

    ceil_mode windows that run past the padding read zeros: pad enough after to fit them.
    """
    pairs = []
    for n, o, k, s, p, d in zip(
        spatial, out_spatial, kernel, stride, padding, dilation, strict=True
    ):
        extent = d * (k - 1) + 1
        pairs.append((p, p + max(0, (o - 1) * s + extent - (n + 2 * p))))
    x = F.pad(ones(channels, spatial), pad_arg(pairs))
    weight = torch.ones(channels, 1, *kernel, dtype=torch.float64)
    y = CONV[len(spatial)](x, weight, None, stride, 0, dilation, channels)
    y = y[(slice(None), slice(None), *(slice(0, o) for o in out_spatial))]
    assert shape_of(y)[1:] == tuple(out_spatial)
    return y


@SETTINGS
@given(data=st.data())
def test_max_pool(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    channels = data.draw(st.integers(1, 3), label="channels")
    fields, kernel, stride, padding, dilation, ceil_mode = draw_pool(data, dims, dilated=True)
    lows = [
        max(1, d * (k - 1) + 1 - 2 * p) for k, p, d in zip(kernel, padding, dilation, strict=True)
    ]
    spatial = draw_sizes(data, dims, lows)
    row = run((channels, *spatial), {"type": "max_pool", **fields}).layers[-1]
    pool = module("MaxPool", dims, kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    y = pool(torch.randn(1, channels, *spatial))
    assert row.output_shape == shape_of(y)
    assert row.params == torch_params(pool) == 0
    taps = pool_taps(channels, spatial, y.shape[2:], kernel, stride, padding, dilation)
    assert row.connections == taps


@SETTINGS
@given(data=st.data())
def test_avg_pool(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    channels = data.draw(st.integers(1, 3), label="channels")
    fields, kernel, stride, padding, dilation, ceil_mode = draw_pool(data, dims, dilated=False)
    count_include_pad = data.draw(st.booleans(), label="count_include_pad")
    fields["count_include_pad"] = count_include_pad
    # torch's avg_pool3d (only the 3-d one) refuses an unpadded input smaller than the kernel.
    lows = [k if dims == 3 else max(1, k - 2 * p) for k, p in zip(kernel, padding, strict=True)]
    spatial = draw_sizes(data, dims, lows)
    row = run((channels, *spatial), {"type": "avg_pool", **fields}).layers[-1]
    pool = module(
        "AvgPool",
        dims,
        kernel,
        stride,
        padding,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )
    y = pool(torch.randn(1, channels, *spatial))
    assert row.output_shape == shape_of(y)
    assert row.params == torch_params(pool) == 0
    taps = pool_taps(channels, spatial, y.shape[2:], kernel, stride, padding, dilation)
    assert row.connections == taps


@SETTINGS
@given(data=st.data())
def test_pool_validity_agrees_with_torch(data):
    """Padding over half the kernel, window larger than the padded input: both refuse."""
    dims = data.draw(st.integers(1, 2), label="dims")
    kind = data.draw(st.sampled_from(["max_pool", "avg_pool"]), label="kind")
    kernel = data.draw(st.integers(1, 4), label="kernel")
    stride = data.draw(st.integers(1, 3), label="stride")
    padding = data.draw(st.integers(0, 3), label="padding")
    dilation = data.draw(st.integers(1, 2), label="dilation") if kind == "max_pool" else 1
    ceil_mode = data.draw(st.booleans(), label="ceil_mode")
    spatial = tuple(data.draw(st.integers(1, 5), label="size") for _ in range(dims))
    spec = {
        "type": kind,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "ceil_mode": ceil_mode,
    }
    if kind == "max_pool":
        spec["dilation"] = dilation

    def with_torch():
        if kind == "max_pool":
            pool = module("MaxPool", dims, kernel, stride, padding, dilation, ceil_mode=ceil_mode)
        else:
            pool = module("AvgPool", dims, kernel, stride, padding, ceil_mode=ceil_mode)
        return shape_of(pool(torch.randn(1, 2, *spatial)))

    mine = outcome(lambda: run((2, *spatial), spec).layers[-1].output_shape)
    assert mine == outcome(with_torch)


@pytest.mark.parametrize(
    ("kind", "spatial", "kernel", "stride"),
    [
        ("max_pool", (1,), 2, 2),
        ("max_pool", (2,), 3, 2),
        ("max_pool", (1, 4), 2, 2),
        ("max_pool", (3, 2, 5), 3, 3),
        ("avg_pool", (1,), 2, 2),
        ("avg_pool", (2, 3), 3, 2),
    ],
)
def test_ceil_mode_window_may_overhang_the_input(kind, spatial, kernel, stride):
    """With ceil_mode the last window may run past a padded input smaller than the kernel.

    Regression: convcalc used to refuse these ("kernel exceeds padded input").
    """
    torch_kind = "MaxPool" if kind == "max_pool" else "AvgPool"
    pool = module(torch_kind, len(spatial), kernel, stride, ceil_mode=True)
    y = pool(torch.randn(1, 2, *spatial))
    spec = {"type": kind, "kernel_size": kernel, "stride": stride, "ceil_mode": True}
    row = run((2, *spatial), spec).layers[-1]
    assert row.output_shape == shape_of(y)
    dims = len(spatial)
    geometry = ((kernel,) * dims, (stride,) * dims, (0,) * dims, (1,) * dims)
    assert row.connections == pool_taps(2, spatial, y.shape[2:], *geometry)


@SETTINGS
@given(data=st.data())
def test_adaptive_pools(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    kind = data.draw(st.sampled_from(["Avg", "Max"]), label="kind")
    channels = data.draw(st.integers(1, 3), label="channels")
    spatial = tuple(
        data.draw(st.integers(1, 2 + EXTRA_SIZE[dims]), label="size") for _ in range(dims)
    )
    size_arg, sizes = draw_size_arg(data, dims, st.integers(1, 8), "output_size")
    spec = {"type": f"adaptive_{kind.lower()}_pool", "output_size": size_arg}
    row = run((channels, *spatial), spec).layers[-1]
    pool = module(f"Adaptive{kind}Pool", dims, sizes)
    y = pool(torch.randn(1, channels, *spatial))
    assert row.output_shape == shape_of(y)
    # Window sizes, summed: one one-hot input per position; every window member weighs 1/k.
    positions = prod(spatial)
    eye = torch.eye(positions, dtype=torch.float64).view(positions, 1, *spatial)
    read = int((module("AdaptiveAvgPool", dims, sizes)(eye) != 0).sum())
    assert row.connections == channels * read


@SETTINGS
@given(data=st.data())
def test_global_pools(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    kind = data.draw(st.sampled_from(["Avg", "Max"]), label="kind")
    channels = data.draw(st.integers(1, 4), label="channels")
    spatial = tuple(
        data.draw(st.integers(1, 2 + EXTRA_SIZE[dims]), label="size") for _ in range(dims)
    )
    row = run((channels, *spatial), {"type": f"global_{kind.lower()}_pool"}).layers[-1]
    y = module(f"Adaptive{kind}Pool", dims, 1)(torch.randn(1, channels, *spatial))
    assert row.output_shape == shape_of(y)
    assert row.params == 0
    assert row.connections == channels * prod(spatial)


# ---------------------------------------------------------------------------------------
# upsampling and unpooling


SCALE_FACTORS = st.sampled_from([0.5, 0.7, 1.0, 1.3, 1.5, 1.75, 2.0, 2.2, 2.5, 3.0, 4.0]) | (
    st.floats(0.3, 4.0, allow_nan=False, allow_infinity=False)
)


def weighted_inputs(spatial, mode: str, dtype, **kwargs) -> int:
    """Input values with a non-zero weight in each output, summed, as torch computes them.

    One one-hot input per position: the outputs it reaches are those that weigh it.
    """
    positions = prod(spatial)
    eye = torch.eye(positions, dtype=dtype).view(positions, 1, *spatial)
    return int((F.interpolate(eye, mode=mode, **kwargs) != 0).sum())


@SETTINGS
@given(data=st.data())
def test_upsample(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    mode = data.draw(st.sampled_from(["nearest", *MODES_BY_RANK[dims]]), label="mode")
    channels = data.draw(st.integers(1, 3), label="channels")
    spatial = tuple(
        data.draw(st.integers(1, 1 + EXTRA_SIZE[dims]), label="size") for _ in range(dims)
    )
    spec = {"type": "upsample", "mode": mode}
    kwargs = {}
    if mode != "nearest":
        align_corners = data.draw(st.sampled_from([None, False, True]), label="align_corners")
        if align_corners is not None:
            spec["align_corners"] = align_corners
        kwargs["align_corners"] = bool(align_corners)
    factors = None
    if data.draw(st.booleans(), label="by size"):
        size_arg, sizes = draw_size_arg(data, dims, st.integers(1, 9), "size")
        spec["size"] = size_arg
        kwargs["size"] = sizes
        expected = sizes
    else:
        factor_arg, factors = draw_size_arg(data, dims, SCALE_FACTORS, "scale_factor")
        spec["scale_factor"] = factor_arg
        kwargs["scale_factor"] = factors
        expected = tuple(math.floor(n * f) for n, f in zip(spatial, factors, strict=True))
    if min(expected) < 1:
        with pytest.raises(ConvCalcError):
            run((channels, *spatial), spec)
        with pytest.raises(TORCH_ERRORS):
            F.interpolate(torch.randn(1, channels, *spatial), mode=mode, **kwargs)
        return
    row = run((channels, *spatial), spec).layers[-1]
    y = F.interpolate(torch.randn(1, channels, *spatial), mode=mode, **kwargs)
    assert row.output_shape == shape_of(y)
    assert row.params == 0
    if mode == "nearest":
        assert row.connections == 0  # a copy: no new connections
        return
    # Where a source position is exactly an input position, float32 and float64 can round
    # it to different sides (one weight exactly 0 or not): either count is torch's.
    counts = {weighted_inputs(spatial, mode, dtype, **kwargs) for dtype in FLOATS}
    assert row.connections in {channels * count for count in counts}


@pytest.mark.parametrize(
    ("input_shape", "mode"),
    [((1, 3), "linear"), ((1, 9), "linear"), ((2, 6, 6), "bilinear"), ((1, 3, 6, 3), "trilinear")],
)
def test_upsample_ratio_is_torch_float_ratio(input_shape, mode):
    """PyTorch maps outputs to inputs with 1.0 / scale_factor: 3.0 exactly for 1/3.

    Regression: convcalc took 1 / Fraction(str(1/3)) = 3.0000000000000004, which made exact
    source positions look fractional (2 weighted inputs per output instead of 1).
    """
    spec = {"type": "upsample", "mode": mode, "scale_factor": 1 / 3}
    row = run(input_shape, spec).layers[-1]
    counts = {weighted_inputs(input_shape[1:], mode, dtype, scale_factor=1 / 3) for dtype in FLOATS}
    assert counts == {prod(input_shape[1:]) // 3 ** (len(input_shape) - 1)}  # one input each
    assert row.connections in {input_shape[0] * count for count in counts}


@pytest.mark.parametrize(
    ("input_shape", "spec"),
    [
        ((1, 3), {"mode": "linear", "scale_factor": 1.3}),
        ((2, 2), {"mode": "linear", "scale_factor": 1.2}),
        ((1, 5, 2), {"mode": "bilinear", "scale_factor": [0.5, 1.3]}),
        ((1, 2, 3, 4), {"mode": "trilinear", "scale_factor": [3.0, 1.3, 0.5]}),
    ],
)
def test_linear_upsample_copies_a_dim_it_keeps(input_shape, spec):
    """PyTorch's linear kernels copy a dim whose size is kept, whatever its scale_factor.

    Regression: convcalc used to interpolate it at 1 / scale_factor (2 inputs per output).
    """
    kwargs = {"scale_factor": spec["scale_factor"], "align_corners": False}
    row = run(input_shape, {"type": "upsample", **spec}).layers[-1]
    counts = {weighted_inputs(input_shape[1:], spec["mode"], dtype, **kwargs) for dtype in FLOATS}
    assert row.connections in {input_shape[0] * count for count in counts}


@pytest.mark.parametrize(
    ("input_shape", "scale_factor"),
    [((1, 3, 3), 1.2), ((1, 3, 3), [1.2, 2.0]), ((2, 4, 4), 1.1), ((1, 5, 2), [1.1, 0.5])],
)
def test_bicubic_scaled_to_same_size(input_shape, scale_factor):
    # Unlike the linear modes, PyTorch's bicubic interpolates a dim whose size is kept.
    kwargs = {"scale_factor": scale_factor, "align_corners": False}
    row = run(input_shape, {"type": "upsample", "mode": "bicubic", **kwargs}).layers[-1]
    counts = {weighted_inputs(input_shape[1:], "bicubic", dtype, **kwargs) for dtype in FLOATS}
    assert row.connections in {input_shape[0] * count for count in counts}


@pytest.mark.parametrize(
    ("input_shape", "spec"),
    [
        ((1, 4, 4), {"mode": "linear", "scale_factor": 2.0}),  # linear is 1-d only
        ((1, 4), {"mode": "bilinear", "scale_factor": 2.0}),
        ((1, 4, 4), {"mode": "trilinear", "size": [8, 8]}),
        ((1, 4, 4, 4), {"mode": "bicubic", "scale_factor": 2.0}),
        ((1, 4, 4), {"mode": "nearest", "scale_factor": 2.0, "align_corners": True}),
        ((1, 4, 4), {"mode": "nearest", "scale_factor": 2.0, "size": [8, 8]}),
        ((1, 4, 4), {"mode": "nearest"}),  # neither size nor scale_factor
        ((1, 4, 4), {"mode": "bilinear", "scale_factor": 0.2}),  # output size 0
        ((1, 4, 4), {"mode": "nearest", "scale_factor": [2.0, 2.0, 2.0]}),  # rank
    ],
)
def test_invalid_upsample_refused_by_both(input_shape, spec):
    with pytest.raises(ConvCalcError):
        run(input_shape, {"type": "upsample", **spec})
    kwargs = {key: spec[key] for key in ("scale_factor", "size", "align_corners") if key in spec}
    with pytest.raises(TORCH_ERRORS):
        F.interpolate(torch.randn(1, *input_shape), mode=spec["mode"], **kwargs)


@SETTINGS
@given(data=st.data())
def test_max_unpool(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    channels = data.draw(st.integers(1, 3), label="channels")
    fields, kernel, stride, padding, dilation, ceil_mode = draw_pool(data, dims, dilated=True)
    lows = [
        max(1, d * (k - 1) + 1 - 2 * p) for k, p, d in zip(kernel, padding, dilation, strict=True)
    ]
    spatial = draw_sizes(data, dims, lows)
    restore = data.draw(st.sampled_from(["default", "list", "int"]), label="output_size")
    unpool_spec = {"type": "max_unpool", "of": "pool"}
    if restore == "int" and len(set(spatial)) == 1:
        unpool_spec["output_size"] = spatial[0]
    elif restore != "default":
        unpool_spec["output_size"] = list(spatial)
    mine = outcome(
        lambda: (
            run((channels, *spatial), {"name": "pool", "type": "max_pool", **fields}, unpool_spec)
            .layers[-1]
            .output_shape
        )
    )

    def with_torch():
        pool = module(
            "MaxPool",
            dims,
            kernel,
            stride,
            padding,
            dilation,
            return_indices=True,
            ceil_mode=ceil_mode,
        )
        y, indices = pool(torch.randn(1, channels, *spatial))
        unpool = module("MaxUnpool", dims, kernel, stride, padding)
        # torch checks every index against the output size, a data-dependent check that
        # convcalc cannot make: the default size may be smaller than the pool's input, and
        # a dilated window that sees only padding yields a bogus index. Index 0 keeps the
        # shape check data-independent there.
        seen = window_taps(channels, spatial, y.shape[2:], kernel, stride, padding, dilation)
        if "output_size" in unpool_spec and bool((seen > 0).all()):
            return shape_of(unpool(y, indices, output_size=spatial))
        sizes = {"output_size": spatial} if "output_size" in unpool_spec else {}
        return shape_of(unpool(y, torch.zeros_like(indices), **sizes))

    assert mine == outcome(with_torch)
    if mine != "error":
        assert (
            run((channels, *spatial), {"name": "pool", "type": "max_pool", **fields}, unpool_spec)
            .layers[-1]
            .params
            == 0
        )


# ---------------------------------------------------------------------------------------
# shape-only layers: channel shuffle, flatten, dense, batchnorm, pad, add, concat


@SETTINGS
@given(data=st.data())
def test_channel_shuffle(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    channels = data.draw(st.integers(1, 8), label="channels")
    groups = data.draw(st.integers(1, 4), label="groups")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    spec = {"type": "channel_shuffle", "groups": groups}
    mine = outcome(lambda: run((channels, *spatial), spec).layers[-1].output_shape)
    theirs = outcome(
        lambda: shape_of(nn.ChannelShuffle(groups)(torch.randn(1, channels, *spatial)))
    )
    assert mine == theirs
    if mine != "error":
        assert run((channels, *spatial), spec).layers[-1].params == 0


@SETTINGS
@given(data=st.data())
def test_flatten_dense(data):
    dims = data.draw(st.integers(0, 3), label="dims")
    channels = data.draw(st.integers(1, 4), label="channels")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    out_features = data.draw(st.integers(1, 6), label="out_features")
    bias = data.draw(st.booleans(), label="bias")
    report = run(
        (channels, *spatial),
        {"type": "flatten"},
        {"type": "dense", "out_features": out_features, "bias": bias},
    )
    flatten, dense = report.layers
    flat = nn.Flatten()(torch.randn(1, channels, *spatial))
    linear = nn.Linear(flat.shape[1], out_features, bias=bias)
    y = linear(flat)
    assert flatten.output_shape == shape_of(flat)
    assert dense.output_shape == shape_of(y)
    assert flatten.params == 0
    assert dense.params == torch_params(linear) == report.totals.params
    in_features = channels * prod(spatial)
    assert dense.macs == in_features * out_features
    weight = torch.ones(out_features, in_features, dtype=torch.float64)
    taps = int(F.linear(ones(in_features, ()), weight).sum())
    assert dense.connections == taps + (out_features if bias else 0)


@SETTINGS
@given(data=st.data())
def test_batchnorm(data):
    dims = data.draw(st.integers(0, 3), label="dims")
    channels = data.draw(st.integers(1, 6), label="channels")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    row = run((channels, *spatial), {"type": "batchnorm"}).layers[-1]
    norm = module("BatchNorm", max(dims, 1), channels).eval()
    y = norm(torch.randn(1, channels, *spatial))
    assert row.output_shape == shape_of(y)
    assert row.params == torch_params(norm) == norm.weight.numel() + norm.bias.numel()
    assert row.buffers == torch_buffers(norm)
    assert row.buffers == norm.running_mean.numel() + norm.running_var.numel()


# ---------------------------------------------------------------------------------------
# normalizations: layer, group and instance norm, local response norm


class ChannelsLayerNorm(nn.Module):
    """torchvision's LayerNorm2d, for any rank: nn.LayerNorm over the channels, moved last."""

    def __init__(self, channels: int, **kwargs) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, **kwargs)

    def forward(self, x):
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


def draw_norm(data, channels: int, spatial: tuple[int, ...]):
    """A normalization drawn for a channels x spatial input: (convcalc layer, torch module,
    values per group its statistics are taken over, or 0 for running statistics)."""
    dims = len(spatial)
    kinds = ["layer_norm", "layer_norm_all", "group_norm"]
    if dims:
        kinds += ["instance_norm", "lrn"]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    eps = data.draw(st.sampled_from([1e-5, 1e-3]), label="eps")
    if kind.startswith("layer_norm"):
        affine = data.draw(st.booleans(), label="elementwise_affine")
        bias = data.draw(st.booleans(), label="bias")
        options = {"eps": eps, "elementwise_affine": affine, "bias": bias}
        if kind == "layer_norm":
            return {"type": kind, **options}, ChannelsLayerNorm(channels, **options), channels
        normalized = [channels, *spatial]
        layer = {"type": "layer_norm", "over": "all", **options}
        return layer, nn.LayerNorm(normalized, **options), prod(normalized)
    if kind == "group_norm":
        groups = data.draw(st.sampled_from([g for g in range(1, 7) if channels % g == 0]))
        affine = data.draw(st.booleans(), label="affine")
        layer = {"type": kind, "num_groups": groups, "eps": eps, "affine": affine}
        torch_module = nn.GroupNorm(groups, channels, eps=eps, affine=affine)
        return layer, torch_module, channels // groups * prod(spatial)
    if kind == "instance_norm":
        affine = data.draw(st.booleans(), label="affine")
        track = data.draw(st.booleans(), label="track_running_stats")
        options = {"eps": eps, "affine": affine, "track_running_stats": track}
        torch_module = module("InstanceNorm", dims, channels, **options)
        return {"type": kind, **options}, torch_module, 0 if track else prod(spatial)
    size = data.draw(st.integers(1, 7), label="size")
    fields = {"alpha": 1e-2, "beta": 0.75, "k": data.draw(st.sampled_from([1.0, 2.0]))}
    layer = {"type": kind, "size": size, **fields}
    return layer, nn.LocalResponseNorm(size, **fields), size


def dependencies(torch_module, x) -> int:
    """(output value, input value) pairs of one sample with a non-zero derivative: the input
    values each output is computed from, as torch's autograd finds them."""
    jacobian = torch.autograd.functional.jacobian(torch_module, x)
    return int((jacobian != 0).sum())


@SETTINGS
@given(data=st.data())
def test_normalizations(data):
    """Shape, params and buffers against the torch module; connections against the
    non-zero entries of its Jacobian; the receptive field against the spatial positions
    each output depends on."""
    dims = data.draw(st.integers(0, 3), label="dims")
    channels = data.draw(st.integers(1, 6), label="channels")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    layer, torch_module, group = draw_norm(data, channels, spatial)
    report = outcome(lambda: run((channels, *spatial), layer))
    # Two samples: torch's group_norm refuses a batch of one whose groups hold one value.
    x = torch.randn(2, channels, *spatial, dtype=torch.float64)
    torch_module = torch_module.double().eval()
    theirs = outcome(lambda: shape_of(torch_module(x)))
    if report == "error":  # instance norm of one position, without running stats
        assert theirs == "error"
        return
    row = report.layers[-1]
    assert row.output_shape == theirs
    x = x[:1]
    assert row.params == torch_params(torch_module)
    assert row.buffers == torch_buffers(torch_module)
    assert row.macs == 0
    values = channels * prod(spatial)
    if layer["type"] == "lrn":
        # Channel windows [c - size//2, c + (size-1)//2], counted here from their ends.
        size = layer["size"]
        taps = sum(
            min(channels - 1, c + (size - 1) // 2) - max(0, c - size // 2) + 1
            for c in range(channels)
        )
        assert row.connections == taps * prod(spatial) == dependencies(torch_module, x)
    elif group == 0:  # running statistics rescale each value: no connections
        assert row.connections == 0
        assert dependencies(torch_module, x) == values
    elif group > 1:
        assert row.connections == values * group == dependencies(torch_module, x)
    else:  # a group of one value normalizes it to 0: said in a note
        assert row.connections == values
        assert any("normalizes it to 0" in note for note in row.notes)
    # The field: the spatial positions every output depends on, along each dim.
    if not dims:
        return
    whole = layer["type"] in ("group_norm", "instance_norm") and group > 0
    whole = whole or layer.get("over") == "all"
    if whole:
        assert row.receptive_field == spatial
        assert row.effective_stride == (0,) * dims
    else:
        assert row.receptive_field == (1,) * dims
        assert row.effective_stride == (1,) * dims
    assert row.effective_padding == (0,) * dims


@SETTINGS
@given(data=st.data())
def test_pad(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    channels = data.draw(st.integers(1, 3), label="channels")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    padding_arg, _, pairs = draw_padding(data, dims, ("int", "per_dim", "pairs", "valid"), 3)
    row = run((channels, *spatial), {"type": "pad", "padding": padding_arg}).layers[-1]
    y = F.pad(torch.randn(1, channels, *spatial), pad_arg(pairs))
    assert row.output_shape == shape_of(y)
    assert row.params == 0


@SETTINGS
@given(data=st.data())
def test_add_and_concat(data):
    """Branches of 1x1 convs (random widths), then add or concat, against torch."""
    dims = data.draw(st.integers(1, 3), label="dims")
    spatial = tuple(data.draw(st.integers(2, 4), label="size") for _ in range(dims))
    kind = data.draw(st.sampled_from(["add", "concat"]), label="kind")
    widths = data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=4), label="widths")
    # A pad on one branch makes the spatial sizes differ: both must refuse.
    padded = data.draw(st.sampled_from([None, *range(len(widths))]), label="padded branch")
    layers, branches = [], []
    x = torch.randn(1, 2, *spatial)
    outputs = []
    for index, width in enumerate(widths):
        name = f"b{index}"
        layers.append(
            {
                "name": name,
                "type": "conv",
                "out_channels": width,
                "kernel_size": 1,
                "inputs": ["input"],
            }
        )
        conv = module("Conv", dims, 2, width, 1)
        with torch.no_grad():
            out = conv(x)
        if index == padded:
            layers.append({"name": f"{name}p", "type": "pad", "padding": 1, "inputs": [name]})
            name = f"{name}p"
            out = F.pad(out, [1] * 2 * dims)
        branches.append(name)
        outputs.append((conv, out))
    layers.append({"name": "join", "type": kind, "inputs": branches})
    tensors = [out for _, out in outputs]

    def with_torch():
        if kind == "concat":
            return shape_of(torch.cat(tensors, dim=1))
        total = tensors[0]
        for tensor in tensors[1:]:
            total = total + tensor
        return shape_of(total)

    report = outcome(lambda: run((2, *spatial), *layers))
    mine = report if report == "error" else report.layers[-1].output_shape
    theirs = outcome(with_torch)
    # torch broadcasts a single channel against many; convcalc's add wants equal shapes.
    if kind == "add" and mine == "error" and theirs != "error":
        assert 1 in widths and padded is None
        return
    assert mine == theirs
    if mine != "error":
        assert report.totals.params == torch_params(*(conv for conv, _ in outputs))


@SETTINGS
@given(data=st.data())
def test_broadcast_add_and_multiply(data):
    """Operands of 1x1 convs (width C, 1 or another) and adaptive pools (the map, a global
    1x1, or a smaller map): convcalc joins exactly what torch joins, but for a single row or
    column that torch broadcasts over a map (see test_a_row_is_broadcast_by_torch_only)."""
    dims = data.draw(st.integers(1, 3), label="dims")
    channels = data.draw(st.integers(2, 4), label="channels")
    spatial = tuple(data.draw(st.integers(2, 4), label="size") for _ in range(dims))
    kind = data.draw(st.sampled_from(["add", "multiply"]), label="kind")
    count = data.draw(st.integers(2, 3), label="operands")
    x = torch.randn(1, channels, *spatial)
    layers, names, convs, tensors = [], [], [], []
    for index in range(count):
        width = data.draw(st.sampled_from([channels, 1, channels + 1]), label="width")
        form = data.draw(st.sampled_from(["map", "global", "smaller"]), label="form")
        sizes = {"map": list(spatial), "global": [1] * dims}.get(form, [n - 1 for n in spatial])
        conv = module("Conv", dims, channels, width, 1)
        layers += [
            {"name": f"c{index}", "type": "conv", "out_channels": width, "kernel_size": 1,
             "inputs": ["input"]},
            {"name": f"p{index}", "type": "adaptive_avg_pool", "output_size": sizes},
        ]  # fmt: skip
        names.append(f"p{index}")
        convs.append(conv)
        with torch.no_grad():
            tensors.append(getattr(F, f"adaptive_avg_pool{dims}d")(conv(x), sizes))
    layers.append({"name": "join", "type": kind, "inputs": names})

    def with_torch():
        result = tensors[0]
        for operand in tensors[1:]:
            result = result + operand if kind == "add" else result * operand
        return shape_of(result)

    report = outcome(lambda: run((channels, *spatial), *layers))
    mine = report if report == "error" else report.layers[-1].output_shape
    theirs = outcome(with_torch)
    partial = [
        shape_of(t)[1:] for t in tensors if 1 in shape_of(t)[1:] and set(shape_of(t)[1:]) != {1}
    ]
    if mine == "error" and theirs != "error" and partial:
        return  # a row or column of a map, which convcalc does not broadcast
    assert mine == theirs
    if mine != "error":
        join = report.layers[-1]
        assert report.totals.params == torch_params(*convs)
        assert join.macs == 0
        assert join.flops == (count - 1) * prod(mine)
        # Each operand's values reach the output values they are broadcast to.
        reached = sum(int(torch.ones_like(t).expand(1, *mine).sum()) for t in tensors)
        assert join.connections == reached


@pytest.mark.parametrize("kind", ["add", "multiply"])
def test_a_row_is_broadcast_by_torch_only(kind):
    """torch spreads a 4x1x3 row over a 4x5x3 map; convcalc asks for a global tensor."""
    x = torch.randn(1, 4, 5, 3)
    row = F.adaptive_avg_pool2d(x, (1, 3))
    assert shape_of(x + row) == shape_of(x * row) == (4, 5, 3)
    with pytest.raises(ConvCalcError, match="spatial sizes equal or all 1"):
        run((4, 5, 3), {"name": "row", "type": "adaptive_avg_pool", "output_size": [1, 3]},
            {"type": kind, "inputs": ["row", "input"]})  # fmt: skip


def test_operands_of_different_ranks_are_refused_though_torch_aligns_them():
    """torch aligns a flat [N, 4] with the last dim of [N, 4, 4, 4]; convcalc's operands
    are channels first, so it refuses rather than join channels with widths."""
    assert tuple((torch.randn(1, 4) + torch.randn(1, 4, 4, 4)).shape) == (1, 4, 4, 4)
    with pytest.raises(ConvCalcError, match="the same number of dims"):
        run((4, 4, 4), {"name": "flat", "type": "global_avg_pool"}, {"type": "flatten"},
            {"type": "add", "inputs": ["flatten2", "input"]})  # fmt: skip


@pytest.mark.parametrize(
    "function",
    [
        "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "hardswish", "softmax",
        "hardsigmoid", "elu", "selu", "mish", "softplus", "identity",
    ],
)  # fmt: skip
def test_activation_and_dropout(function):
    torch_module = {
        "hardsigmoid": nn.Hardsigmoid(),
        "elu": nn.ELU(),
        "selu": nn.SELU(),
        "mish": nn.Mish(),
        "softplus": nn.Softplus(),
        "identity": nn.Identity(),
        "relu": nn.ReLU(),
        "relu6": nn.ReLU6(),
        "leaky_relu": nn.LeakyReLU(),
        "sigmoid": nn.Sigmoid(),
        "tanh": nn.Tanh(),
        "gelu": nn.GELU(),
        "silu": nn.SiLU(),
        "hardswish": nn.Hardswish(),
        "softmax": nn.Softmax(dim=1),
    }[function]
    report = run((3, 4, 5), {"type": "activation", "function": function}, {"type": "dropout"})
    y = nn.Dropout().eval()(torch_module(torch.randn(1, 3, 4, 5)))
    assert [row.output_shape for row in report.layers] == [shape_of(y)] * 2
    assert report.totals.params == torch_params(torch_module) == 0


@SETTINGS
@given(data=st.data())
def test_prelu(data):
    """One slope or one per channel: torch refuses any other count, as convcalc does."""
    dims = data.draw(st.integers(0, 3), label="dims")
    channels = data.draw(st.integers(1, 6), label="channels")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    num_parameters = data.draw(st.sampled_from([1, channels, 7]), label="num_parameters")
    spec = {"type": "prelu", "num_parameters": num_parameters}
    prelu = nn.PReLU(num_parameters)
    mine = outcome(lambda: run((channels, *spatial), spec).layers[-1].output_shape)
    theirs = outcome(lambda: shape_of(prelu(torch.randn(1, channels, *spatial))))
    assert mine == theirs
    if mine != "error":
        row = run((channels, *spatial), spec).layers[-1]
        assert row.params == torch_params(prelu) == num_parameters
        assert row.macs == row.connections == 0


@SETTINGS
@given(data=st.data())
def test_scale(data):
    """ConvNeXt's layer scale (torchvision CNBlock: a [C, 1, 1] parameter times x)."""
    dims = data.draw(st.integers(1, 3), label="dims")
    channels = data.draw(st.integers(1, 6), label="channels")
    spatial = tuple(data.draw(st.integers(1, 4), label="size") for _ in range(dims))
    row = run((channels, *spatial), {"type": "scale"}).layers[-1]
    layer_scale = nn.Parameter(torch.ones(channels, *(1,) * dims) * 1e-6)
    y = layer_scale * torch.randn(1, channels, *spatial)
    assert row.output_shape == shape_of(y)
    assert row.params == layer_scale.numel()
    assert row.macs == 0


# ---------------------------------------------------------------------------------------
# a whole network


@FEW
@given(data=st.data())
def test_random_stack_totals(data):
    """A random conv/bn/pool/dense stack: every shape and the total params match torch."""
    channels = data.draw(st.integers(1, 3), label="channels")
    spatial = (data.draw(st.integers(8, 12), label="h"), data.draw(st.integers(8, 12), label="w"))
    layers, modules = [], []
    width = channels
    for _ in range(data.draw(st.integers(1, 3), label="blocks")):
        out = data.draw(st.integers(1, 4), label="out")
        kernel = data.draw(st.integers(1, 3), label="kernel")
        layers += [
            {"type": "conv", "out_channels": out, "kernel_size": kernel, "padding": "same"},
            {"type": "batchnorm"},
            {"type": "activation", "function": "relu"},
        ]
        modules += [
            nn.Conv2d(width, out, kernel, padding="same"),
            nn.BatchNorm2d(out),
            nn.ReLU(),
        ]
        if data.draw(st.booleans(), label="pool"):
            layers.append({"type": "max_pool", "kernel_size": 2, "ceil_mode": True})
            modules.append(nn.MaxPool2d(2, ceil_mode=True))
        width = out
    classes = data.draw(st.integers(1, 5), label="classes")
    layers += [
        {"type": "global_avg_pool"},
        {"type": "flatten"},
        {"type": "dense", "out_features": classes},
    ]
    modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes)]
    report = run((channels, *spatial), *layers)
    x = torch.randn(1, channels, *spatial)
    shapes = []
    with torch.no_grad():
        for torch_module in modules:
            x = torch_module.eval()(x)
            shapes.append(shape_of(x))
    assert [row.output_shape for row in report.layers] == shapes
    assert report.totals.params == torch_params(*modules)
    assert report.totals.buffers == torch_buffers(*modules)
