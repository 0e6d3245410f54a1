"""Time `convcalc shapes` on ResNet-50 against a torchinfo summary of the same network.

Both sides run as whole processes (interpreter start-up and imports included), interleaved
A B A B ... so that drift in machine load hits both alike. Both may use Python's bytecode
cache, as an installed package does (pip compiles it at install time): a
PYTHONDONTWRITEBYTECODE in the caller's environment is not passed on, since it would make
the editable checkout recompile its sources on every run. Run with the repo's venv:

    .venv/bin/python bench/shapes.py [--runs 15] [--spec specs/resnet50.yaml]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from timing import REPO, time_interleaved

DEFAULT_SPEC = REPO / "specs" / "resnet50.yaml"

SPEEDUP_GOAL = 10.0  # convcalc at least this many times faster than torchinfo
LATENCY_GOAL = 0.350  # seconds, convcalc's median

# ResNet-50 exactly as torchvision.models.resnet50() defines it (v1.5: the stride sits in
# the 3x3 conv of the bottleneck; projection shortcut where the shape changes; torchvision's
# weight initialization), then a torchinfo summary; prints total params and mult-adds.
TORCHINFO_PROGRAM = """
import torch
import torchinfo
from torch import nn


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


model = ResNet(Bottleneck, [3, 4, 6, 3])
stats = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
print(stats.total_params, stats.total_mult_adds)
"""


def convcalc_command(spec: Path) -> list[str]:
    """The convcalc process being timed."""
    return [sys.executable, "-m", "convcalc", "shapes", str(spec)]


def torchinfo_command() -> list[str]:
    """The torchinfo process being timed."""
    return [sys.executable, "-c", TORCHINFO_PROGRAM]


def convcalc_totals(spec: Path) -> tuple[int, int]:
    """(params, MACs) of the spec, from convcalc's JSON output."""
    output = subprocess.run(
        [*convcalc_command(spec), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    totals = json.loads(output)["totals"]
    return totals["params"], totals["macs"]


def torchinfo_totals() -> tuple[int, int]:
    """(total_params, total_mult_adds) of torchinfo's ModelStatistics for ResNet-50."""
    output = subprocess.run(
        torchinfo_command(), capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    params, mult_adds = output.split()
    return int(params), int(mult_adds)


def milliseconds(seconds: float) -> str:
    """1.2345 -> '1234.5 ms'."""
    return f"{seconds * 1000:8.1f} ms"


def print_timings(times: dict[str, list[float]]) -> None:
    """Median and min of each side."""
    for name, values in times.items():
        print(
            f"{name:<10} median {milliseconds(statistics.median(values))}"
            f"   min {milliseconds(min(values))}   ({len(values)} runs)"
        )


def print_goals(convcalc: list[float], torchinfo: list[float]) -> None:
    """The speed ratio and whether each goal holds, judged on medians."""
    median_ratio = statistics.median(torchinfo) / statistics.median(convcalc)
    min_ratio = min(torchinfo) / min(convcalc)
    print(f"ratio torchinfo/convcalc: {median_ratio:.1f}x (medians), {min_ratio:.1f}x (mins)")
    fast_enough = median_ratio >= SPEEDUP_GOAL
    quick_enough = statistics.median(convcalc) < LATENCY_GOAL
    print(
        f"goal: convcalc >= {SPEEDUP_GOAL:g}x faster than torchinfo: "
        f"{'holds' if fast_enough else 'FAILS'} ({median_ratio:.1f}x)"
    )
    print(
        f"goal: convcalc under {LATENCY_GOAL * 1000:.0f} ms: "
        f"{'holds' if quick_enough else 'FAILS'} ({statistics.median(convcalc) * 1000:.0f} ms)"
    )


def print_sanity(spec: Path) -> None:
    """convcalc's params and MACs next to torchinfo's totals for the same network."""
    ours, theirs = convcalc_totals(spec), torchinfo_totals()
    print(f"sanity check ({spec.name} vs torchinfo ResNet-50):")
    for label, mine, other in zip(("params", "MACs"), ours, theirs, strict=True):
        verdict = "equal" if mine == other else f"differ by {other - mine:+,}"
        print(f"  {label:<7} convcalc {mine:>15,}   torchinfo {other:>15,}   {verdict}")
    print(
        "  (torchinfo's mult-adds also count every bias and batchnorm parameter once per"
        " sample; convcalc's MACs count multiplications by weights only)"
    )


def main() -> None:
    """Parse the options, time both sides, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each (default 15)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="spec to time")
    parser.add_argument(
        "--no-sanity", action="store_true", help="skip comparing the totals with torchinfo's"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.spec.is_file():
        parser.error(f"{args.spec} does not exist (use --spec)")

    print(f"python {sys.version.split()[0]}, {args.runs} interleaved runs, spec {args.spec}")
    times = time_interleaved(
        {"convcalc": convcalc_command(args.spec), "torchinfo": torchinfo_command()},
        args.runs,
        args.warmup,
    )
    print_timings(times)
    print_goals(times["convcalc"], times["torchinfo"])
    if not args.no_sanity:
        print_sanity(args.spec)


if __name__ == "__main__":
    main()
