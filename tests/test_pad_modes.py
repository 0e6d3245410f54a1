"""Padding modes (zeros, reflect, replicate, circular) of `pad` and of the convolutions'
`padding_mode`, and `pad`'s channel padding: values against PyTorch (F.pad, nn.ConvNd),
the refusals PyTorch makes, connections in closed form, receptive fields (what each
output depends on, against PyTorch's gradients), `verify` on every mode, symbolic sizes
and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convcalc import numeric
from convcalc.analysis import analyze
from convcalc.errors import ConvCalcError
from convcalc.layers.base import Inputs, Shape
from convcalc.spec import build
from convcalc.verification import verify
from tests.conftest import run

# PyTorch warns that its 'same' with an even kernel copies the input: a speed note.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("zeros", "reflect", "replicate", "circular")
COPYING = MODES[1:]
# PyTorch's names: F.pad calls zeros "constant"; nn.ConvNd's padding_mode uses convcalc's.
TORCH_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}
TORCH_PAD_MODE["circular"] = "circular"


def pad_arg(pairs) -> list[int]:
    """F.pad's argument for per-dim (before, after) pairs: last dim first."""
    return [side for before, after in reversed(pairs) for side in (before, after)]


def largest_pad(mode: str, size: int, limit: int = 4) -> int:
    """The largest padding PyTorch takes for `mode` on a dim of `size` (capped at `limit`)."""
    if mode == "reflect":
        return min(limit, size - 1)
    if mode == "circular":
        return min(limit, size)
    return limit


def draw_pairs(data, mode: str, sizes) -> list[list[int]]:
    return [
        [data.draw(st.integers(0, largest_pad(mode, size))) for _ in range(2)] for size in sizes
    ]


def assert_verified(spec: dict):
    verification = verify(build(spec), keep_arrays=True)
    assert verification.ok, [
        f"{layer.name} {name}: {check.predicted} != {check.measured}"
        for layer, name, check in verification.mismatches
    ]
    return verification


# ---------------------------------------------------------------------------------------
# values against PyTorch


@SETTINGS
@given(st.sampled_from(MODES), st.integers(1, 3), st.data())
def test_pad_values_are_torch_pad(mode, dims, data):
    """Every mode on 1 to 3 spatial dims, and zero channels, as F.pad gives them."""
    torch = pytest.importorskip("torch")
    sizes = [data.draw(st.integers(1, 5)) for _ in range(dims)]
    pairs = draw_pairs(data, mode, sizes)
    channels = [data.draw(st.integers(0, 3)) for _ in range(2)] if mode == "zeros" else [0, 0]
    layer = {"name": "pad", "type": "pad", "padding": pairs, "mode": mode}
    if any(channels):
        layer["channel_padding"] = channels
    verification = assert_verified({"input": [2, *sizes], "batch": 2, "layers": [layer]})
    arrays = verification.arrays
    widths = pad_arg(pairs) + (channels if any(channels) else [])
    theirs = torch.nn.functional.pad(
        torch.from_numpy(arrays["input"]), widths, mode=TORCH_PAD_MODE[mode]
    )
    np.testing.assert_array_equal(arrays["pad/output"], theirs.numpy())
    row = verification.report.layers[0]
    assert row.output_shape == tuple(theirs.shape[1:])
    assert (row.params, row.macs, row.flops, row.connections) == (0, 0, 0, 0)


def test_cifar_resnet_shortcut_a():
    """He et al. 2016's option A: x[:, :, ::2, ::2] padded with planes // 4 zero channels
    on each side, F.pad(x, (0, 0, 0, 0, planes // 4, planes // 4))."""
    torch = pytest.importorskip("torch")
    planes = 32
    spec = {
        "input": [16, 8, 8],
        "layers": [
            {"name": "sub", "type": "max_pool", "kernel_size": 1, "stride": 2},
            {"name": "pad", "type": "pad", "channel_padding": planes // 4},
        ],
    }
    arrays = assert_verified(spec).arrays
    x = torch.from_numpy(arrays["input"])
    theirs = torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))
    np.testing.assert_array_equal(arrays["pad/output"], theirs.numpy())
    assert arrays["pad/output"].shape[1:] == (planes, 4, 4)


CONV_TYPES = ("conv", "depthwise_conv", "separable_conv")


@SETTINGS
@given(st.sampled_from(MODES), st.sampled_from(CONV_TYPES), st.integers(1, 3), st.data())
def test_conv_values_are_torch_padding_mode(mode, type_name, dims, data):
    """nn.ConvNd(padding_mode=...) with convcalc's weights; asymmetric pairs and 'same' as
    PyTorch writes them, F.pad with the mode and then an unpadded conv."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    kernel = data.draw(st.integers(1, 3))
    stride = data.draw(st.integers(1, 2))
    dilation = data.draw(st.integers(1, 2))
    extent = dilation * (kernel - 1) + 1
    sizes = [data.draw(st.integers(max(2, extent), extent + 3)) for _ in range(dims)]
    same = stride == 1 and data.draw(st.booleans())
    if same:
        total = extent - 1  # stride 1: 'same' pads d*(k-1), the odd one after
        pairs = [[total // 2, total - total // 2]] * dims
    else:
        pairs = draw_pairs(data, mode, [min(sizes)] * dims)
    in_channels = 2
    fields = {
        "kernel_size": kernel,
        "stride": stride,
        "dilation": dilation,
        "padding": "same" if same else pairs,
        "padding_mode": mode,
        "bias": data.draw(st.booleans()),
    }
    if type_name == "conv":
        fields["out_channels"] = 4
        fields["groups"] = data.draw(st.sampled_from([1, 2]))
    elif type_name == "separable_conv":
        fields["out_channels"] = 3
    layer = {"name": "layer", "type": type_name, **fields}
    spec = {"input": [in_channels, *sizes], "batch": 2, "layers": [layer]}
    arrays = assert_verified(spec).arrays
    x = torch.from_numpy(arrays["input"]).double()
    convolve = getattr(functional, f"conv{dims}d")

    def weight(key):
        return (
            torch.from_numpy(arrays[f"layer/{key}"]).double() if f"layer/{key}" in arrays else None
        )

    def padded(values):
        return functional.pad(values, pad_arg(pairs), mode=TORCH_PAD_MODE[mode])

    if type_name == "separable_conv":
        middle = convolve(
            padded(x),
            weight("depthwise_weight"),
            weight("depthwise_bias"),
            stride,
            0,
            dilation,
            in_channels,
        )
        theirs = convolve(middle, weight("pointwise_weight"), weight("pointwise_bias"))
    else:
        groups = fields.get("groups", in_channels if type_name == "depthwise_conv" else 1)
        out_channels = arrays["layer/weight"].shape[0]
        symmetric = all(before == after for before, after in pairs)
        if symmetric or same:
            module = getattr(torch.nn, f"Conv{dims}d")(
                in_channels, out_channels, kernel, stride,
                "same" if same else tuple(before for before, _ in pairs), dilation, groups,
                bias=fields["bias"], padding_mode=mode, dtype=torch.float64,
            )  # fmt: skip
            with torch.no_grad():
                module.weight.copy_(weight("weight"))
                if fields["bias"]:
                    module.bias.copy_(weight("bias"))
                theirs = module(x)
        else:
            theirs = convolve(
                padded(x), weight("weight"), weight("bias"), stride, 0, dilation, groups
            )
    np.testing.assert_allclose(arrays["layer/output"], theirs.numpy(), rtol=1e-4, atol=1e-4)


@SETTINGS
@given(st.sampled_from(MODES), st.integers(1, 2), st.data())
def test_refusals_agree_with_torch(mode, dims, data):
    """Reflect padding below the size, circular at most the size (wrapping once), any
    replicate or zero padding: convcalc refuses exactly what F.pad refuses."""
    torch = pytest.importorskip("torch")
    sizes = [data.draw(st.integers(1, 4)) for _ in range(dims)]
    pairs = [[data.draw(st.integers(0, 5)) for _ in range(2)] for _ in sizes]

    def ours():
        layer = {"type": "pad", "padding": pairs, "mode": mode}
        return run([1, *sizes], layer).layers[0].output_shape

    def theirs():
        x = torch.zeros(1, 1, *sizes)
        return tuple(
            torch.nn.functional.pad(x, pad_arg(pairs), mode=TORCH_PAD_MODE[mode]).shape[1:]
        )

    outcomes = []
    for attempt in (ours, theirs):
        try:
            outcomes.append(attempt())
        except (ConvCalcError, RuntimeError, ValueError):
            outcomes.append("error")
    assert outcomes[0] == outcomes[1]


def test_conv_transpose_takes_zeros_only():
    """PyTorch: 'Only "zeros" padding mode is supported for ConvTranspose2d'."""
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="zeros"):
        torch.nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    layer = {"type": "conv_transpose", "out_channels": 2, "kernel_size": 3}
    assert run([1, 4, 4], {**layer, "padding_mode": "zeros"}).layers[0].output_shape == (2, 6, 6)
    with pytest.raises(ConvCalcError, match="padding_mode: Input should be 'zeros'"):
        run([1, 4, 4], {**layer, "padding_mode": "reflect"})


# ---------------------------------------------------------------------------------------
# figures: unchanged by the mode, but connections


@pytest.mark.parametrize("mode", COPYING)
@pytest.mark.parametrize(
    ("input_shape", "fields"),
    [
        ([3, 7, 6], {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1}),
        ([4, 9], {"type": "conv", "out_channels": 2, "kernel_size": 3, "padding": [[2, 1]],
                  "stride": 2, "groups": 2}),
        ([2, 5, 6, 4], {"type": "depthwise_conv", "kernel_size": 3, "padding": [1, 2, 0],
                        "dilation": [1, 2, 1], "multiplier": 2}),
        ([3, 8, 8], {"type": "conv", "out_channels": 2, "kernel_size": 4, "padding": "same",
                     "stride": 2}),
    ],
)  # fmt: skip
def test_connections_count_every_tap(mode, input_shape, fields):
    """With padding that copies real inputs every tap reads a real value, so each output
    value has (in/groups) x prod(kernel) connections + 1 for its bias (closed form), more
    than with zeros; params, MACs, FLOPs, the shape and the field stay those of zeros."""
    zeros = run(input_shape, {**fields, "padding_mode": "zeros"}).layers[0]
    row = run(input_shape, {**fields, "padding_mode": mode}).layers[0]
    out_channels, *out_spatial = row.output_shape
    kernel = fields["kernel_size"]
    taps = math.prod([kernel] * len(out_spatial))
    per_output_channel = input_shape[0] // fields.get("groups", 1)
    if fields["type"] == "depthwise_conv":
        per_output_channel = 1
    positions = math.prod(out_spatial)
    assert row.connections == out_channels * positions * (per_output_channel * taps + 1)
    assert row.connections > zeros.connections
    for name in ("output_shape", "params", "macs", "flops", "receptive_field",
                 "effective_stride", "effective_padding"):  # fmt: skip
        assert getattr(row, name) == getattr(zeros, name), name


@pytest.mark.parametrize("mode", COPYING)
def test_connection_table_counts_its_rows(mode):
    """LeNet-5's C3 convention with copied padding: each output channel's table row x
    every tap, + 1 for the bias, at each output position; verify measures the same."""
    table = [[0], [0, 1], [1, 2], [0, 1, 2]]
    layer = {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1,
             "padding_mode": mode, "connection_table": table}  # fmt: skip
    row = run([3, 6, 5], layer).layers[0]
    assert row.connections == 30 * (sum(len(sources) for sources in table) * 9 + 4)
    assert_verified({"input": [3, 6, 5], "layers": [layer]})


def test_lenet_style_count_by_hand():
    """A 1-d 3-tap conv over 4 inputs with padding 1 and no bias: zeros give 2 + 3 + 3 + 2
    real taps; reflect reads x1 at -1 and x2 at 4, so 3 at every output: 12; an output
    reading x1 through two taps (reflect at output 0: x1, x0, x1) has two connections, one
    per weight."""
    layer = {"type": "conv", "out_channels": 1, "kernel_size": 3, "padding": 1, "bias": False}
    assert run([1, 4], layer).layers[0].connections == 10
    assert run([1, 4], {**layer, "padding_mode": "reflect"}).layers[0].connections == 12


def test_separable_conv_copies_reach_the_depthwise_step_only():
    fields = {"type": "separable_conv", "out_channels": 5, "kernel_size": 3, "padding": 1}
    zeros = run([2, 6, 6], fields).layers[0]
    copied = run([2, 6, 6], {**fields, "padding_mode": "replicate"}).layers[0]
    depthwise = 2 * 36 * (9 + 1)
    pointwise = 5 * 36 * (2 + 1)
    assert copied.connections == depthwise + pointwise
    assert (copied.macs, copied.params) == (zeros.macs, zeros.params)


# ---------------------------------------------------------------------------------------
# receptive fields: what each output depends on


def torch_dependencies(layers_torch, size: int) -> list[set[int]]:
    """For each output position of a 1-d network, the input positions with a non-zero
    gradient (positive weights: nothing cancels)."""
    torch = pytest.importorskip("torch")
    x = torch.ones(1, 1, size, dtype=torch.float64, requires_grad=True)
    y = layers_torch(x)
    found = []
    for position in range(y.shape[-1]):
        (grad,) = torch.autograd.grad(y[0, 0, position], x, retain_graph=True)
        found.append(set(torch.nonzero(grad[0, 0]).flatten().tolist()))
    return found


def convcalc_dependencies(layer: dict, size: int) -> list[set[int]]:
    """The same, from the layer's `dependency` (what `verify` measures), one-hot planes."""
    built = build({"input": [1, size], "layers": [{"name": "layer", **layer}]}).layers[0]
    planes = np.zeros((size, 1, size), dtype=bool)
    planes[np.arange(size), 0, np.arange(size)] = True
    inputs = Inputs([Shape(1, (size,))], ["input"])
    reached = built.dependency(inputs, [planes], numeric.Kernels()) != 0
    return [
        set(np.flatnonzero(reached[:, 0, position]).tolist())
        for position in range(reached.shape[-1])
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kernel", "padding", "stride", "dilation"),
    [(3, 1, 1, 1), (5, 2, 2, 1), (3, 2, 1, 2), (2, 1, 1, 1)],
)
def test_dependencies_are_torch_gradients(mode, kernel, padding, stride, dilation):
    """conv and pad: the inputs each output depends on, as PyTorch's gradients show them.
    With circular padding the first output depends on the last inputs."""
    torch = pytest.importorskip("torch")
    size = 7
    conv = torch.nn.Conv1d(1, 1, kernel, stride, padding, dilation, bias=False, padding_mode=mode)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    conv.double()
    layer = {"type": "conv", "out_channels": 1, "kernel_size": kernel, "padding": padding,
             "stride": stride, "dilation": dilation, "padding_mode": mode}  # fmt: skip
    assert convcalc_dependencies(layer, size) == torch_dependencies(conv, size)
    pad = {"type": "pad", "padding": [[padding, padding + 1]], "mode": mode}
    torch_mode = TORCH_PAD_MODE[mode]

    def pad_torch(x):
        return torch.nn.functional.pad(x, [padding, padding + 1], mode=torch_mode)

    assert convcalc_dependencies(pad, size) == torch_dependencies(pad_torch, size)


def test_circular_border_reads_the_other_end():
    """The field's numbers are the span of Araujo et al. whatever the mode (3 wide, padding
    1), but output 0 of a circular 3-tap conv reads input n-1, which the span [-1, 1] calls
    padding; reflect reads input 1 there, replicate input 0 twice."""
    layer = {"type": "conv", "out_channels": 1, "kernel_size": 3, "padding": 1}
    for mode, first in (("circular", {6, 0, 1}), ("reflect", {0, 1}), ("replicate", {0, 1})):
        row = run([1, 7], {**layer, "padding_mode": mode}).layers[0]
        assert (row.receptive_field, row.effective_padding) == ((3,), (1,))
        assert convcalc_dependencies({**layer, "padding_mode": mode}, 7)[0] == first


def stack(mode: str, dims: int) -> list[dict]:
    """A padded conv, a pad, a strided conv and a separable conv, all in `mode`."""
    return [
        {"type": "conv", "out_channels": 3, "kernel_size": 3, "padding": 1, "padding_mode": mode},
        {"type": "pad", "padding": [[2, 1]] + [1] * (dims - 1), "mode": mode},
        {"type": "conv", "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1,
         "padding_mode": mode},
        {"type": "depthwise_conv", "kernel_size": 3, "dilation": 2, "padding": 2,
         "padding_mode": mode},
        {"type": "separable_conv", "out_channels": 2, "kernel_size": 2, "padding": [[1, 0]] * dims,
         "padding_mode": mode},
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spatial", [[19], [15, 12], [9, 8, 7]])
def test_verify_agrees(mode, spatial):
    """Every figure re-measured agrees, and the interior outputs of the first layers, whose
    fields read no copies, are compared with their predicted fields: the measured size
    is there to see."""
    spec = {"input": [2, *spatial], "batch": 2, "layers": stack(mode, len(spatial))}
    verification = assert_verified(spec)
    first = verification.layers[0].checks["receptive_field"]
    assert first.measured["size"] == [3] * len(spatial)
    third = verification.layers[2].checks["receptive_field"]
    assert third.measured["size"][0] == 5 == 3 + (3 - 1) * 1  # Araujo et al.: r + (k-1)j


@SETTINGS
@given(st.integers(1, 2), st.data())
def test_verify_agrees_on_drawn_chains(dims, data):
    """Chains of convs and pads in drawn modes, kernels, strides, dilations and paddings."""
    layers = []
    for _ in range(data.draw(st.integers(1, 4))):
        mode = data.draw(st.sampled_from(MODES))
        padding = data.draw(st.integers(0, 3))
        if data.draw(st.booleans()):
            layers.append({"type": "pad", "padding": [[padding, 1]] * dims, "mode": mode})
        else:
            layers.append(
                {"type": "conv", "out_channels": 2, "kernel_size": data.draw(st.integers(1, 4)),
                 "stride": data.draw(st.integers(1, 2)), "dilation": data.draw(st.integers(1, 2)),
                 "padding": padding, "padding_mode": mode}
            )  # fmt: skip
    sizes = [data.draw(st.integers(3, 12)) for _ in range(dims)]
    spec = {"input": [1, *sizes], "layers": layers}
    try:
        analyze(build(spec))
    except ConvCalcError:
        assume(False)
    assert_verified(spec)


def test_verify_sees_a_wrong_copy_dependency(monkeypatch):
    """Were the copies' reach left out of the outputs verify compares, a circular conv's
    border, which reads the far end, would fail containment: the check can fail."""
    from convcalc import verification as module

    spec = {"input": [1, 9], "layers": [stack("circular", 1)[0]]}
    original = module._Reach

    def without_copies(reached, first, last, virtual, copied):
        return original(reached, first, last, virtual, np.zeros_like(copied))

    monkeypatch.setattr(module, "_Reach", without_copies)
    assert not verify(build(spec)).ok


# ---------------------------------------------------------------------------------------
# symbolic sizes


@pytest.mark.parametrize("mode", COPYING)
def test_symbolic_sizes_give_the_concrete_figures(mode):
    pytest.importorskip("sympy")
    from convcalc.spec import load_text
    from tests.test_symbolic import assert_same_figures, at

    network = load_text(
        "input: [3, H, W]\nlayers:\n"
        f"  - {{name: pad, type: pad, padding: [3, [1, 2]], mode: {mode}}}\n"
        f"  - {{name: conv, type: conv, out_channels: 4, kernel_size: 3, stride: 2,"
        f" padding: 1, padding_mode: {mode}}}\n"
    )
    formulas = analyze(network)
    pad, conv = formulas.layers
    assert [str(size) for size in pad.output_shape[1:]] == ["H + 6", "W + 3"]
    # Every tap reads a real value: connections are a formula, not known-later.
    for sizes in ({"H": 4, "W": 3}, {"H": 9, "W": 14}, {"H": 30, "W": 7}):
        out_h = (sizes["H"] + 6 + 2 - 3) // 2 + 1
        out_w = (sizes["W"] + 3 + 2 - 3) // 2 + 1
        assert at(conv.connections, sizes) == 4 * (3 * 9 + 1) * out_h * out_w
        concrete = analyze(network, (3, sizes["H"], sizes["W"]))
        assert_same_figures(formulas, concrete, sizes)
    # The reflect bound: padding 3 needs H > 3; circular 3 needs H >= 3.
    smallest = 4 if mode == "reflect" else 3 if mode == "circular" else 1
    analyze(network, (3, smallest, 3))
    if smallest > 1:
        with pytest.raises(ConvCalcError, match=f"{mode} padding 3 must be"):
            analyze(network, (3, smallest - 1, 3))


@pytest.mark.parametrize(("mode", "least"), [("reflect", 4), ("circular", 3), ("replicate", 1)])
def test_sizes_lists_what_the_bound_allows(mode, least):
    """`convcalc sizes`: reflect padding 3 needs H > 3, circular H >= 3 (PyTorch's bounds)."""
    pytest.importorskip("sympy")
    import convcalc

    spec = {"input": [1, "H"], "layers": [{"type": "pad", "padding": 3, "mode": mode}]}
    (scan,) = convcalc.sizes(spec, size_range=(1, 12))
    assert scan.sizes == list(range(least, 13))


# ---------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("input_shape", "layer", "message"),
    [
        ([2, 3, 5], {"type": "pad", "padding": 3, "mode": "reflect"},
         "padding: reflect padding 3 must be less than the input size 3 in spatial dim 1"),
        ([2, 3, 5], {"type": "pad", "padding": [0, [1, 6]], "mode": "circular"},
         "padding: circular padding 6 must be at most the input size 5 in spatial dim 2"),
        ([2, 4, 4], {"type": "conv", "out_channels": 1, "kernel_size": 9, "padding": 4,
                     "padding_mode": "reflect"}, "padding: reflect padding 4 must be less than"),
        ([2, 4, 4], {"type": "pad", "padding": 1, "mode": "reflect", "channel_padding": 1},
         "channel_padding: reflect padding cannot pad the channels"),
        ([2, 4, 4], {"type": "pad", "padding": 1, "mode": "constant"},
         "mode: Input should be 'zeros', 'reflect', 'replicate' or 'circular', got 'constant'"),
        ([2, 4, 4], {"type": "conv", "out_channels": 1, "kernel_size": 3, "padding_mode": "edge"},
         "padding_mode: Input should be 'zeros'"),
        ([2, 4, 4], {"type": "pad", "channel_padding": [1, 2, 3]}, "channel_padding"),
        ([2, 4, 4], {"type": "pad", "channel_padding": -1}, "channel_padding: must be at least 0"),
        ([2, 4, 4], {"type": "pad", "padding": "same"}, "padding: 'same' has no meaning"),
    ],
)  # fmt: skip
def test_mistakes_are_one_error(input_shape, layer, message):
    with pytest.raises(ConvCalcError, match=message) as caught:
        run(input_shape, layer)
    assert "\n" not in str(caught.value)


def test_command_line_error_is_one_line(tmp_path):
    """`convcalc shapes` on a reflect padding too wide: exit 2, one `error:` line naming the
    file, line, layer and field, nothing on stdout."""
    from typer.testing import CliRunner

    from convcalc.cli import app

    spec = tmp_path / "net.yaml"
    spec.write_text(
        "input: [3, 4, 4]\nlayers:\n"
        "  - {name: stem, type: conv, out_channels: 8, kernel_size: 9, padding: 4,"
        " padding_mode: reflect}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["shapes", str(spec)])
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert (
        line.startswith("error: ")
        and "net.yaml:3: layer 1 (stem): padding: reflect padding 4" in line
    )
    assert "must be less than the input size 4 in spatial dim 1" in line
