"""The training-cost oracle (train_oracle.py) against closed forms worked out by hand."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from train_oracle import backward_macs, saved_bytes, saved_tensors  # noqa: E402

FLOAT = 4  # bytes


def two_convs() -> nn.Sequential:
    """conv 3->8 3x3, relu, conv 8->4 3x3: on [2, 3, 10, 10], maps of 8x8 then 6x6."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))


FIRST = 2 * 8 * 8 * 8 * 3 * 9  # outputs x in_channels x kernel
SECOND = 2 * 4 * 6 * 6 * 8 * 9
IMAGE = 2 * 3 * 10 * 10 * FLOAT
RELU = 2 * 8 * 8 * 8 * FLOAT


def test_two_convs():
    # The first conv's input needs no gradient: its weight's only. The second needs both.
    # Saved: the image (the first conv's input) and relu's output (relu's own save and the
    # second conv's input, one storage); the first conv's output is not kept.
    model = two_convs()
    x = torch.randn(2, 3, 10, 10)
    assert backward_macs(model, x) == {"0": FIRST, "2": 2 * SECOND}
    assert saved_bytes(model, x) == IMAGE + RELU
    assert [entry.module for entry in saved_tensors(model, x)] == ["0", "1"]


def test_two_convs_first_frozen():
    # A frozen first conv on an input without grad has no backward node and saves nothing;
    # so relu's input needs no grad either, and only the second conv saves (its input).
    model = two_convs()
    model[0].requires_grad_(False)
    x = torch.randn(2, 3, 10, 10)
    assert backward_macs(model, x) == {"0": 0, "2": SECOND}
    assert saved_bytes(model, x) == RELU


class Twice(nn.Module):
    """One conv called twice, then a linear over the channels-last positions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.fc = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(self.conv(x)).permute(0, 2, 3, 1))


def test_repeated_calls_groups_and_rows():
    # conv: 2 x 4 x 5 x 5 outputs x 4/2 x 9; its first call's input needs no grad.
    # fc: 2 x 5 x 5 rows x 4 in x 6 out.
    conv = 2 * 4 * 5 * 5 * 2 * 9
    fc = 2 * 5 * 5 * 4 * 6
    found = backward_macs(Twice(), torch.randn(2, 4, 5, 5))
    assert found == {"conv": conv, "conv@2": 2 * conv, "fc": 2 * fc}


def test_conv_transpose():
    # each input value meets out_channels / groups x kernel weights: 2 x 6 x 4 x 4 x 3 x 4
    model = nn.Sequential(nn.ConvTranspose2d(6, 3, 2, stride=2))
    assert backward_macs(model, torch.randn(2, 6, 4, 4)) == {"0": 2 * 6 * 4 * 4 * 3 * 4}


def test_dropout_mask_counted_as_bool():
    # the linear saves its input; dropout's mask counts 1 byte a value (CUDA's fused kernel)
    model = nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.5))
    saved = saved_tensors(model, torch.randn(3, 5))
    assert [(s.module, s.shape, s.nbytes) for s in saved] == [
        ("0", (3, 5), 3 * 5 * FLOAT),
        ("1", (3, 16), 3 * 16),
    ]


def test_leaves_the_model_as_found():
    model = two_convs().eval()
    backward_macs(model, torch.randn(1, 3, 10, 10))
    saved_bytes(model, torch.randn(1, 3, 10, 10))
    for module in model.modules():
        assert not module.training
        assert not module._forward_hooks and not module._forward_pre_hooks
