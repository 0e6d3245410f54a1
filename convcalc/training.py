"""What a training step costs: the gradients' MACs and FLOPs, and the memory it holds.

Pure, like the analysis it is part of: `Tracker` follows the layers in spec order, as
autograd records them, and knows for each tensor whether it needs a gradient and which
storage it lives in. Each layer type states its own backward rule (`Layer.backward`);
this module applies them to the network (README "Training"):

- a layer's weights train when it has parameters and is `trainable` (a sharer's are its
  owner's); it has a backward when they train or an input needs a gradient, and its output
  then needs one too. Network inputs need none;
- the tensors a layer saves count once per storage, at the first layer that saves them;
  a view (flatten, slice, a split's part, crop) lives in its input's storage;
- during the backward, run in reverse order, a saved tensor is freed after the last
  layer that uses it, and an activation's gradient lives from the backward of its first
  reader (in reverse) to that of the layer that made it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from convcalc.layers.base import (
    INPUT_TENSOR,
    NAMED_TENSOR,
    NEW_TENSOR,
    OTHERS_NEED_GRAD,
    OUTPUT_TENSOR,
    WEIGHTS_TRAIN,
    Backward,
    Layer,
    Saved,
    Shape,
)

# Float32 state per trainable parameter: SGD keeps none, momentum a velocity, Adam and
# AdamW two moments (torch.optim's state_dict holds exactly these).
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
STATE_BYTES = 4  # optimizer state is float32
HALF_BYTES = 2  # --amp: weights, activations and gradients in float16


@dataclass(frozen=True)
class Setup:
    """How the network is trained: the optimizer, and mixed precision or not."""

    optimizer: str = "adam"
    amp: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZER_STATES:
            from convcalc.errors import ConvCalcError, option

            raise ConvCalcError(
                f"unknown optimizer {self.optimizer!r} (known: {', '.join(OPTIMIZER_STATES)})",
                field=option("optimizer"),
            )


@dataclass
class _Row:
    """What the backward walk needs of one layer."""

    name: str
    inputs: tuple[str, ...]
    has_backward: bool
    frees: list[str] = field(default_factory=list)  # storages last used by this layer


class Tracker:
    """The training figures of each layer in turn, then of the network."""

    def __init__(
        self,
        setup: Setup,
        batch: int,
        dtype_bytes: int,
        network_inputs: Mapping[str, Shape],
        outputs: Sequence[str],
    ) -> None:
        self.setup = setup
        self.batch = batch
        self.value_bytes = HALF_BYTES if setup.amp else dtype_bytes
        self.outputs = tuple(outputs)
        self.needs_grad: dict[str, bool] = dict.fromkeys(network_inputs, False)
        self.storage: dict[str, str] = {name: name for name in network_inputs}
        self.storage_bytes: dict[str, object] = {
            name: self._bytes(shape.numel) for name, shape in network_inputs.items()
        }
        self.tensor_bytes: dict[str, object] = dict(self.storage_bytes)
        self.named: dict[tuple[str, str], str] = {}
        self.held: dict[str, object] = {}  # saved storage -> its bytes
        self.rows: list[_Row] = []

    def _bytes(self, values, value_bytes: int | None = None, per_batch: bool = False):
        batch = 1 if per_batch else self.batch
        return values * (value_bytes or self.value_bytes) * batch

    def add(
        self,
        layer: Layer,
        inputs: Sequence[str],
        output: Shape,
        backward: Backward,
        trains: bool,
    ) -> dict[str, object]:
        """The training figures of the next layer, which reads the tensors `inputs`."""
        wants = [self.needs_grad[name] for name in inputs]
        has_backward = trains or any(wants)
        name = layer.name
        self.needs_grad[name] = has_backward
        if backward.view:
            self.storage[name] = self.storage[inputs[0]]
        else:
            self.storage[name] = name
            self.storage_bytes[name] = self._bytes(output.numel)
        self.tensor_bytes[name] = self._bytes(output.numel)
        row = _Row(name, tuple(inputs), has_backward)
        self.rows.append(row)
        macs = 0
        flops = 0
        saved = 0
        if has_backward:
            macs = (backward.weight_macs if trains else 0) + backward.inner_macs
            if any(wants):
                macs += backward.input_macs
            flops = 2 * macs + (backward.weight_flops if trains else 0) + backward.flops
            for number, kept in enumerate(backward.saves):
                if not _kept(kept, trains, wants):
                    continue
                storage = self._storage_of(kept, name, inputs, number)
                if storage is None or storage in self.held:
                    continue
                self.held[storage] = self.storage_bytes[storage]
                saved += self.storage_bytes[storage]
                row.frees.append(storage)
        return {"backward_macs": macs, "backward_flops": flops, "saved_bytes": saved}

    def _storage_of(self, kept: Saved, name: str, inputs: Sequence[str], number: int) -> str | None:
        """The storage a saved tensor lives in, made for a new one."""
        if kept.tensor == INPUT_TENSOR:
            return self.storage[inputs[kept.index]]
        if kept.tensor == OUTPUT_TENSOR:
            return self.storage[name]
        if kept.tensor == NAMED_TENSOR:
            return self.named.get(kept.key)  # None: its maker kept nothing (no backward)
        assert kept.tensor == NEW_TENSOR
        storage = f"{name}\0{number}"
        self.storage_bytes[storage] = self._bytes(kept.values, kept.value_bytes, kept.per_batch)
        if kept.key is not None:
            self.named[name, kept.key] = storage
        return storage

    def totals(self, params: int, buffers: int, trainable: int, symbolic: bool) -> dict:
        """The network's training figures, given its params, buffers and forward MACs."""
        saved = sum(self.held.values())
        states = OPTIMIZER_STATES[self.setup.optimizer] * trainable * STATE_BYTES
        if self.setup.amp:  # float32 master weights beside the float16 ones
            states += trainable * STATE_BYTES
        gradients = trainable * self.value_bytes
        transient = None if symbolic else self._backward_peak() - saved
        weights = (params + buffers) * self.value_bytes
        return {
            "gradient_bytes": gradients,
            "optimizer_state_bytes": states,
            "saved_activation_bytes": saved,
            "backward_transient_bytes": transient,
            "train_peak_bytes": None
            if transient is None
            else weights + gradients + states + saved + transient,
        }

    def _backward_peak(self) -> int:
        """The most bytes of saved activations and activation gradients live at once during
        the backward (the network outputs' gradients arrive first)."""
        held = sum(self.held.values())
        gradients = {
            name: self.tensor_bytes[name] for name in self.outputs if self.needs_grad.get(name)
        }
        peak = held + sum(gradients.values())
        for row in reversed(self.rows):
            if not row.has_backward:
                continue
            for name in row.inputs:
                if self.needs_grad[name] and name not in gradients:
                    gradients[name] = self.tensor_bytes[name]
            peak = max(peak, held + sum(gradients.values()))
            gradients.pop(row.name, None)
            for storage in row.frees:
                held -= self.held[storage]
        return peak


def _kept(kept: Saved, trains: bool, wants: list[bool]) -> bool:
    """Whether a layer with a backward saves `kept`, given whether its weights train and
    which of its inputs need a gradient."""
    if kept.when == WEIGHTS_TRAIN:
        return trains
    if kept.when == OTHERS_NEED_GRAD:
        return any(want for index, want in enumerate(wants) if index != kept.index)
    return True
