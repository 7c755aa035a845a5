"""Argument checks shared by every public function: one place, one message style.

Each check names the argument, says what was expected and what it got, and returns the (possibly cast)
value, so a caller writes ``x = check_images(x, "inputs", model=model)`` and uses ``x`` from then on.

* ``check_images(x, name, channels=None, model=None, allow_empty=False, ndim=4)`` – a finite float32
  N×C×H×W tensor (float64/float16 are cast to float32; integer images are an error with a hint).
* ``check_finite(t, name)`` – no NaN or ±inf.
* ``one_image(x, name)`` – a tensor C×H×W or 1×C×H×W → C×H×W (one image, e.g. to display).
* ``positive_int(v, name, minimum=1)`` – an int ≥ ``minimum`` (bools rejected); ``positive_float``.
* ``one_of(v, name, options)`` – one of a few strings.
* ``resolve_layer(model, layer)`` – a layer given by name or as the module itself → (name, module).
"""
from __future__ import annotations

import numbers
from typing import Iterable

import torch
from torch import nn


def check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ValueError if ``t`` holds NaN or ±inf (a NaN pixel would give a silent, meaningless map)."""
    if t.device.type == "meta":      # no values to check, and any later .item() would fail inside torch
        raise ValueError(f"{name}: is a tensor on the 'meta' device, which holds no values; pass real data")
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            count, where = int(bad.sum()), tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(f"{name}: holds {count} non-finite value(s) (NaN or ±inf), the first at index "
                             f"{where}; replace them, e.g. with torch.nan_to_num({name})")
    return t


def model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter or buffer (None for a model without any)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return None


def _input_channels(model: nn.Module) -> int | None:
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    return first.in_channels if isinstance(first, nn.Conv2d) else None


def check_images(x, name: str = "inputs", channels: int | None = None, model: nn.Module | None = None,
                 allow_empty: bool = False, ndim: int = 4) -> torch.Tensor:
    """``x`` as a finite float32 tensor of rank ``ndim`` (default N×C×H×W); raise a clear error otherwise.

    ``channels``: the expected C (default: the in_channels of ``model``'s first conv, if ``model`` is given).
    ``model``: also check that ``x`` is on the model's device. float64/float16 inputs are cast to float32.
    """
    layout = {4: "N×C×H×W", 3: "C×H×W", 2: "H×W"}.get(ndim, f"{ndim}-d")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor {layout}, got {type(x).__name__}"
                        + (" (convert it with torch.as_tensor)" if hasattr(x, "shape") else ""))
    if x.ndim != ndim:
        hint = ""
        if ndim == 4 and x.ndim == 3:
            hint = f" (add a batch dimension with {name}[None])"
        elif ndim == 4 and x.ndim == 2:
            hint = f" (add batch and channel dimensions with {name}[None, None])"
        raise ValueError(f"{name}: expected a {ndim}-d tensor {layout}, got shape {tuple(x.shape)}{hint}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{name}: expected a float tensor (values in the model's input range), got {x.dtype}"
                        + ("; for uint8 images use x.float() / 255" if x.dtype == torch.uint8 else
                           f"; convert it with {name}.float()"))
    if x.dtype != torch.float32:
        x = x.float()
    if not allow_empty and (x.shape[0] == 0 or x.numel() == 0):
        raise ValueError(f"{name}: expected at least one image, got an empty batch of shape {tuple(x.shape)}")
    if model is not None:
        channels = channels if channels is not None else _input_channels(model)
        device = model_device(model)
        if device is not None and x.device != device:
            raise ValueError(f"{name}: is on {x.device} but the model is on {device}; "
                             f"move it with {name}.to({str(device)!r})")
    if channels is not None and ndim >= 3 and x.shape[-3] != channels:
        raise ValueError(f"{name}: expected {channels} channel(s) (shape {layout} with C = {channels}), "
                         f"got {x.shape[-3]} in shape {tuple(x.shape)}")
    return check_finite(x, name)


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``; bools, floats and strings are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int ≥ {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int ≥ {minimum}, got {value}")
    return int(value)


def positive_float(value, name: str, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (≥ 0 with ``allow_zero``); bools rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (value >= 0 if allow_zero else value > 0) or value != value or value == float("inf"):
        raise ValueError(f"{name}: expected a finite number {'≥' if allow_zero else '>'} 0, got {value}")
    return value


def one_of(value, name: str, options: Iterable[str]) -> str:
    """``value`` if it is one of ``options``, else a ValueError listing them."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def resolve_layer(model: nn.Module, layer: str | nn.Module, name: str = "layer") -> tuple[str, nn.Module]:
    """A layer of ``model`` given by its name (``"relu4"``, ``"_blocks.3"``) or as the module → (name, module)."""
    modules = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for n, m in modules.items():
            if m is layer:
                return n, m
        raise ValueError(f"{name}: the module {type(layer).__name__} is not a submodule of this model; "
                         f"pass one of its layers or a name such as {[n for n, _ in model.named_children()][:5]}")
    if not isinstance(layer, str):
        raise TypeError(f"{name}: expected a layer name (str) or a submodule of the model, "
                        f"got {type(layer).__name__}")
    if layer not in modules:
        close = [n for n in modules if n and (layer in n or n in layer)][:5]
        raise ValueError(f"{name}: the model has no submodule {layer!r}"
                         + (f"; did you mean one of {close}?" if close else
                            f"; its top-level layers are {[n for n, _ in model.named_children()]}"))
    return layer, modules[layer]


def one_image(x, name: str) -> torch.Tensor:
    """``x`` (a tensor C×H×W or 1×C×H×W) as C×H×W: the batch of one dropped. A batch of several images or
    another rank raises ValueError naming ``name``; dtype and values are not checked here."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor C×H×W or 1×C×H×W, got {type(x).__name__}")
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"{name}: expected one image 1×C×H×W, got a batch of shape {tuple(x.shape)} "
                             f"(pass {name}[i:i+1] for image i)")
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"{name}: expected a tensor C×H×W or 1×C×H×W, got shape {tuple(x.shape)}")
    return x


def check_tensor(x, name: str, layouts: str | Iterable[str], allow_empty: bool = False) -> torch.Tensor:
    """``x`` as a finite float32 tensor whose rank matches one of ``layouts`` (e.g. ``"N×K"`` or
    ``("N×C×H×W", "N×H×W")``: the rank is the number of ×-separated letters). float64 is cast."""
    layouts = (layouts,) if isinstance(layouts, str) else tuple(layouts)
    ranks = [layout.count("×") + 1 for layout in layouts]
    wanted = " or ".join(layouts)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor {wanted}, got {type(x).__name__}"
                        + (" (convert it with torch.as_tensor)" if hasattr(x, "shape") else ""))
    if x.ndim not in ranks:
        raise ValueError(f"{name}: expected a tensor {wanted}, got shape {tuple(x.shape)}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{name}: expected a float tensor, got {x.dtype}; convert it with {name}.float()")
    if x.dtype != torch.float32:
        x = x.float()
    if not allow_empty and x.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty tensor, got shape {tuple(x.shape)}")
    return check_finite(x, name)


def class_indices(t, name: str, n: int | None = None, n_classes: int | None = None,
                  device: torch.device | None = None) -> torch.Tensor:
    """``t`` as a 1-d int64 tensor of class indices: ``n`` of them, each in [0, ``n_classes``), on ``device``.

    Float and bool tensors, N×1 columns and a single label for N items are errors, not silently truncated
    or broadcast (``(predictions == labels[:, None])`` would compare every pair).
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a 1-d integer tensor of class indices, got {type(t).__name__}"
                        + (" (convert it with torch.as_tensor)" if hasattr(t, "shape") or
                           isinstance(t, (list, tuple)) else ""))
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name}: expected integer class indices, got {t.dtype}"
                        + ("; round them first with .round().long() if they are whole numbers"
                           if t.is_floating_point() else ""))
    if t.ndim != 1 or (n is not None and len(t) != n):
        raise ValueError(f"{name}: expected a 1-d tensor of {n if n is not None else 'N'} class indices, "
                         f"got shape {tuple(t.shape)}" + (f" (flatten it with {name}.flatten())"
                                                          if t.ndim == 2 and 1 in t.shape else ""))
    if device is not None and t.device != torch.device(device):
        raise ValueError(f"{name}: is on {t.device} but the other tensors are on {device}; "
                         f"move it with {name}.to({str(device)!r})")
    if len(t) and (bool(t.min() < 0) or (n_classes is not None and bool(t.max() >= n_classes))):
        raise ValueError(f"{name}: class indices must lie in [0, {n_classes - 1 if n_classes else '…'}], got "
                         f"{int(t.min())}..{int(t.max())}")
    return t.long()


def integer(value, name: str) -> int:
    """``value`` as an int of any sign (a row, a class index, an offset); a 0-d integer tensor counts
    (``labels[0]``, ``x.argmax()``); bools, floats and strings are rejected."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point() \
            and not value.is_complex() and value.dtype != torch.bool and value.device.type != "meta":
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    return int(value)


def finite_number(value, name: str) -> float:
    """``value`` as a finite float of any sign (a fill value, an offset); bools, NaN and ±inf are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def check_module(model, name: str = "model") -> nn.Module:
    """``model`` if it is a torch ``nn.Module`` (a plain function has no layers, hooks or device)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name}: expected a torch.nn.Module, got {type(model).__name__}"
                        + (" (wrap a function in an nn.Module subclass)" if callable(model) else ""))
    return model


def check_bool(value, name: str) -> bool:
    """``value`` if it is a bool (``abs="yes"`` or ``detach=0`` would be truthy/falsy by accident)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return value


def check_model_inputs(x, model: nn.Module, name: str = "inputs", allow_empty: bool = False) -> torch.Tensor:
    """``check_images(x, name, model=model)`` in the model's floating dtype.

    A float32 model gets float32 inputs (float64 is cast); a float64 model (exact tests, the checks' tiny
    models) gets float64, and so does a model without parameters when ``x`` is float64.
    """
    check_module(model)
    checked = check_images(x, name, model=model, allow_empty=allow_empty)
    from itertools import chain
    dtype = next((t.dtype for t in chain(model.parameters(), model.buffers()) if t.is_floating_point()), None)
    if dtype == torch.float64 or (dtype is None and x.dtype == torch.float64):
        return check_finite(x.to(torch.float64), name)
    return checked


def input_channels(model: nn.Module) -> int | None:
    """How many channels ``model``'s inputs have (its first conv's in_channels); None if it starts otherwise."""
    return _input_channels(model)
