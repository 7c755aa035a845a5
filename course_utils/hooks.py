"""Looking at what flows through a model: activation capture with hooks, model-state guards, receptive fields.

* ``capture_activations(model, layers)`` – context manager collecting the outputs of named layers.
* ``preserved_state(model)`` – context manager restoring ``training`` and ``requires_grad`` on exit.
* ``receptive_fields(model, input_shape)`` – size, jump and start of every conv/pool layer's receptive field.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (as in ``model.named_modules()``, e.g. ``"conv1"`` or ``"_blocks.3"``)."""
    modules = dict(model.named_modules())
    if name not in modules:
        close = [n for n in modules if n and (name in n or n in name)][:5]
        raise ValueError(f"layer: the model has no submodule {name!r}"
                         + (f"; did you mean one of {close}?" if close else
                            f"; its top-level layers are {[n for n, _ in model.named_children()]}"))
    return modules[name]


@contextmanager
def capture_activations(model: nn.Module, layers: str | list[str], detach: bool = True
                        ) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of ``layers`` during forward passes inside the ``with`` block.

    Yields a dict ``{name: output}`` filled (and overwritten) by each forward pass; outputs keep their
    shapes (e.g. N×C×H×W). With ``detach=False`` they stay in the autograd graph. The hooks are removed
    when the block ends, even if it raises.

        with capture_activations(model, ["conv1", "relu2"]) as acts:
            model(x)
        acts["conv1"].shape  # N×32×28×28
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("layers: expected at least one layer name")
    modules = {name: get_layer(model, name) for name in names}
    store: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(module, inputs, output):
            store[name] = output.detach() if detach else output
        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in modules.items()]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


class StopForward(Exception):
    """Raised by a hook once every activation a computation needs has been recorded: the rest of the network
    cannot change the result, so skipping it saves time (a lot, for early layers of a deep model)."""


@contextmanager
def preserved_state(model: nn.Module, eval_mode: bool = True, freeze: bool = True) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode with frozen parameters inside the block; restore both flags afterwards.

    Attribution methods only need gradients with respect to the input, so freezing the parameters saves
    work and keeps ``.grad`` of the weights untouched.
    """
    training = {m: m.training for m in model.modules()}
    requires = {p: p.requires_grad for p in model.parameters()}
    try:
        if eval_mode:
            model.eval()
        if freeze:
            for p in model.parameters():
                p.requires_grad_(False)
        yield model
    finally:
        for m, flag in training.items():
            m.training = flag
        for p, flag in requires.items():
            p.requires_grad_(flag)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one layer's output units, in input pixels.

    ``size``: side of the square of input pixels one unit sees; ``jump``: input pixels between neighbouring
    units; ``start``: input coordinate of the centre of unit 0 (negative when padding is involved);
    ``out_size``: spatial size of the layer's output.
    """
    name: str
    kind: str
    kernel: int
    stride: int
    padding: int
    size: int
    jump: int
    start: float
    out_size: int


def _as_int(v) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def receptive_field_step(size: int, jump: int, start: float, kernel: int, stride: int, padding: int,
                         dilation: int = 1) -> tuple[int, int, float]:
    """One layer of the receptive-field recursion: r' = r + (k_eff − 1)·j, j' = j·s, start' = start + ((k_eff−1)/2 − p)·j."""
    k_eff = dilation * (kernel - 1) + 1
    return size + (k_eff - 1) * jump, jump * stride, start + ((k_eff - 1) / 2 - padding) * jump


def receptive_fields(model: nn.Module, input_shape: tuple[int, ...]) -> list[ReceptiveField]:
    """Receptive field of every Conv2d / MaxPool2d / AvgPool2d of ``model``, in the order they run.

    ``input_shape`` is C×H×W (square inputs). One forward pass on zeros records the order in which the layers
    run and their output sizes. Layers on a residual branch are followed along the main path, which has the
    largest receptive field.
    """
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise ValueError(f"input_shape: expected C×H×W with H == W, got {tuple(input_shape)}")
    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    order: list[tuple[str, nn.Module, int]] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, inputs, output):
        order.append((names[module], module, output.shape[-1]))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        with preserved_state(model), torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    size, jump, start, out = 1, 1, 0.0, []
    for name, m, out_size in order:
        k, s = _as_int(m.kernel_size), _as_int(m.stride)
        d = _as_int(getattr(m, "dilation", 1))
        if isinstance(m.padding, str):       # nn.Conv2d(padding="same" | "valid"), stride 1 only
            p = d * (k - 1) // 2 if m.padding == "same" else 0
        else:
            p = _as_int(m.padding)
        size, jump, start = receptive_field_step(size, jump, start, k, s, p, d)
        out.append(ReceptiveField(name, type(m).__name__, k, s, p, size, jump, start, out_size))
    return out
