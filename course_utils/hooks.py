"""Looking at what flows through a model: activation capture with hooks, model-state guards, receptive fields.

* ``capture_activations(model, layers)`` – context manager collecting copies of the outputs of layers
  (given by name or as the modules themselves).
* ``forward_to(model, inputs, layers)`` – run the model just far enough to record ``layers``.
* ``modules_in_run_order(model, inputs)`` – every submodule in the order its output was produced.
* ``preserved_state(model)`` – context manager restoring ``training`` and ``requires_grad`` on exit.
* ``receptive_fields(model, input_shape)`` – size, jump and start of every conv/pool layer's receptive field.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from .validation import check_bool, check_model_inputs, check_module, positive_int, resolve_layer

Layer = str | nn.Module


def get_layer(model: nn.Module, layer: Layer) -> nn.Module:
    """The submodule ``layer``: a name as in ``model.named_modules()`` (``"conv1"``, ``"_blocks.3"``) or the
    module itself (checked to belong to ``model``)."""
    return resolve_layer(check_module(model), layer)[1]


def _layer_list(model: nn.Module, layers: Layer | Sequence[Layer]) -> dict[str, nn.Module]:
    """``layers`` (one or several, names or modules) → {name: module}, in the given order, without repeats."""
    check_module(model)
    many = layers if isinstance(layers, (list, tuple)) else [layers]
    if not many:
        raise ValueError("layers: expected at least one layer (a name such as 'conv1' or the module)")
    return dict(resolve_layer(model, layer) for layer in many)


class Activations(dict):
    """``{layer name: activation}``; the layer's module works as a key too (``acts[model.relu4]``)."""

    def __init__(self, names: dict[nn.Module, str]) -> None:
        super().__init__()
        self._names = names

    def _key(self, key):
        return self._names.get(key, key) if isinstance(key, nn.Module) else key

    def __getitem__(self, key):
        return super().__getitem__(self._key(key))

    def __contains__(self, key) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key, default=None):
        return super().get(self._key(key), default)


def _copy(output, detach: bool):
    """A copy of a module's output (a tensor, or a tuple/list of them); other outputs are returned as they are."""
    if isinstance(output, torch.Tensor):
        return output.detach().clone() if detach else output.clone()
    if isinstance(output, (tuple, list)):
        return type(output)(_copy(o, detach) for o in output)
    return output


@contextmanager
def capture_activations(model: nn.Module, layers: Layer | Sequence[Layer], detach: bool = True
                        ) -> Iterator[Activations]:
    """Record the outputs of ``layers`` during forward passes inside the ``with`` block.

    ``layers``: a name (``"relu4"``), a module (``model.relu4``) or a list of them. Yields a dict
    ``{name: output}`` (modules work as keys too) filled, and overwritten, by each forward pass; outputs keep
    their shapes (e.g. N×C×H×W). The hooks are removed when the block ends, even if it raises.

    What is recorded cannot be changed by an in-place operation later in the forward pass (the torchvision
    pattern bn → ``ReLU(inplace=True)`` would otherwise turn a recorded bn output into its ReLU):
    with ``detach=True`` (default) a detached copy is recorded; with ``detach=False`` the output itself is
    recorded, in the autograd graph, and the rest of the network runs on a copy of it — so gradients
    with respect to the recorded tensor (Grad-CAM) are the gradients of the layer's output.

        with capture_activations(model, ["conv1", "relu2"]) as acts:
            model(x)
        acts["conv1"].shape  # N×32×28×28
    """
    modules = _layer_list(model, layers)
    check_bool(detach, "detach")
    store = Activations({module: name for name, module in modules.items()})

    def make_hook(name: str):
        def hook(module, inputs, output):
            if detach:
                store[name] = _copy(output, detach=True)
                return None
            store[name] = output
            return _copy(output, detach=False)   # the rest of the forward pass cannot touch ``output``
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


def forward_to(model: nn.Module, inputs: torch.Tensor, layers: Layer | Sequence[Layer], detach: bool = True
               ) -> Activations:
    """Run ``model(inputs)`` just far enough to record ``layers`` (see ``capture_activations``) and return
    their activations; the layers after the last one needed are skipped. The model runs as it is (wrap
    the call in ``preserved_state`` for eval mode); ``inputs`` is used as given (validate it first)."""
    wanted = _layer_list(model, layers)

    def stop_when_done(module, args, output):
        if all(name in acts for name in wanted):
            raise StopForward

    with capture_activations(model, list(wanted.values()), detach=detach) as acts:
        stoppers = [m.register_forward_hook(stop_when_done) for m in wanted.values()]
        try:
            model(inputs)
        except StopForward:
            pass
        finally:
            for h in stoppers:
                h.remove()
    missing = [name for name in wanted if name not in acts]
    if missing:
        raise ValueError(f"layers: {missing} did not run in the model's forward pass")
    return acts


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


@dataclass(frozen=True)
class ModuleRun:
    """One submodule's forward call: its ``name``, the ``module`` and the shape of its output (``None`` when
    the output is not a tensor)."""
    name: str
    module: nn.Module
    output_shape: tuple[int, ...] | None


def _shape_input(model: nn.Module, input_shape) -> torch.Tensor:
    """A C×H×W ``input_shape`` → a 1×C×H×W zero image on the model's device, checked against the model."""
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape: expected a C×H×W shape such as (1, 28, 28), got {input_shape!r}")
    shape = tuple(positive_int(v, "input_shape") for v in input_shape)
    device = next((t.device for t in model.parameters()), torch.device("cpu"))
    return check_model_inputs(torch.zeros(1, *shape, device=device), model, "input_shape")


def modules_in_run_order(model: nn.Module, inputs: torch.Tensor | Sequence[int]) -> list[ModuleRun]:
    """Every submodule of ``model`` in the order its output is produced by one forward pass.

    ``inputs``: an N×C×H×W tensor, or a C×H×W shape (one zero image is used). A container finishes after
    its children; a module called twice appears twice. Runs in eval mode without gradients; the model and
    its hooks are left as they were.
    """
    check_module(model)
    if isinstance(inputs, torch.Tensor):
        x, what = check_model_inputs(inputs, model), "inputs"
    elif isinstance(inputs, (tuple, list, torch.Size)):
        x, what = _shape_input(model, inputs), "input_shape"
    else:
        raise TypeError(f"inputs: expected an N×C×H×W tensor or a C×H×W shape, got {type(inputs).__name__}")
    names = {m: n for n, m in model.named_modules()}
    runs: list[ModuleRun] = []

    def hook(module, args, output):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        runs.append(ModuleRun(names[module], module, shape))

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with preserved_state(model), torch.no_grad():
            model(x)
    except RuntimeError as err:   # e.g. an image too small for the model's pooling
        raise ValueError(f"{what}: the model cannot run on inputs of shape {tuple(x.shape)}: {err}") from err
    finally:
        for h in handles:
            h.remove()
    return runs


def receptive_fields(model: nn.Module, input_shape: tuple[int, ...]) -> list[ReceptiveField]:
    """Receptive field of every Conv2d / MaxPool2d / AvgPool2d of ``model``, in the order they run.

    ``input_shape`` is C×H×W (square inputs). One forward pass on zeros records the order in which the layers
    run and their output sizes (``modules_in_run_order``). Layers on a residual branch are followed along
    the main path, which has the largest receptive field.
    """
    if isinstance(input_shape, (tuple, list, torch.Size)) and len(input_shape) == 3 \
            and input_shape[1] != input_shape[2]:
        raise ValueError(f"input_shape: expected C×H×W with H == W, got {tuple(input_shape)}")
    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    runs = [run for run in modules_in_run_order(model, input_shape) if isinstance(run.module, kinds)]
    size, jump, start, out = 1, 1, 0.0, []
    for run in runs:
        m = run.module
        k, s = _as_int(m.kernel_size), _as_int(m.stride)
        d = _as_int(getattr(m, "dilation", 1))
        if isinstance(m.padding, str):       # nn.Conv2d(padding="same" | "valid"), stride 1 only
            p = d * (k - 1) // 2 if m.padding == "same" else 0
        else:
            p = _as_int(m.padding)
        size, jump, start = receptive_field_step(size, jump, start, k, s, p, d)
        out.append(ReceptiveField(run.name, type(m).__name__, k, s, p, size, jump, start, run.output_shape[-1]))
    return out
