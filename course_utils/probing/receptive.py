"""Which input pixels a unit sees (lectures 01 and 02).

* ``layer_receptive_field(model, layer, input_shape)`` – the receptive field of any layer's outputs
  (from ``course_utils.hooks.receptive_fields``).
* ``receptive_field_box(rf, row, col)`` – the square of input pixels seen by one unit.
* ``crop_patch``, ``receptive_field_patches`` – that square cut out of an image, padded where it leaves it.
* ``gradient_support(model, layer, inputs, row, col)`` – the box of pixels with a nonzero gradient: the
  empirical check of the recursion.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..hooks import (ReceptiveField, capture_activations, modules_in_run_order, preserved_state,
                     receptive_fields)
from ..validation import (check_images, check_model_inputs, finite_number, integer, positive_int,
                          resolve_layer)


def _check_rf(rf) -> ReceptiveField:
    if not isinstance(rf, ReceptiveField):
        raise TypeError(f"rf: expected a ReceptiveField (from layer_receptive_field), got {type(rf).__name__}")
    return rf


def layer_receptive_field(model: nn.Module, layer: str | nn.Module, input_shape: tuple[int, ...]) -> ReceptiveField:
    """The receptive field of the outputs of ``layer`` (a name such as ``"relu2"`` or ``"_blocks.3"``, or the
    module itself).

    ``course_utils.hooks.receptive_fields`` lists the conv/pool layers; a ReLU, BatchNorm or whole block has
    the receptive field of the last conv/pool that ran before its output was produced (``kernel``,
    ``stride`` and ``padding`` are that layer's; ``kind`` is the type of ``layer``). ``input_shape``: C×H×W.
    """
    layer, target = resolve_layer(model, layer)
    convs = {rf.name: rf for rf in receptive_fields(model, input_shape)}
    runs = modules_in_run_order(model, input_shape)
    finished = [run.name for run in runs]            # module names in the order their outputs are produced
    out_shape = [run.output_shape for run in runs if run.module is target and run.output_shape is not None]
    if layer not in finished or not out_shape:
        raise ValueError(f"layer: {layer!r} does not produce a tensor in the model's forward pass")
    if len(out_shape[0]) != 4:
        raise ValueError(f"layer: {layer!r} has no spatial output (shape {out_shape[0]}); "
                         "its units see the whole input")
    before = finished[:finished.index(layer) + 1]
    last = next((n for n in reversed(before) if n in convs), None)
    kind = type(target).__name__
    if last is None:        # e.g. an activation before any conv: each unit sees one pixel
        return ReceptiveField(layer, kind, 1, 1, 0, 1, 1, 0.0, out_shape[0][-1])
    rf = convs[last]
    if out_shape[0][-1] != rf.out_size:
        raise ValueError(f"layer: {layer!r} changes the spatial size after {last!r} "
                         f"({rf.out_size} → {out_shape[0][-1]}) in a way the recursion does not model")
    return ReceptiveField(layer, kind, rf.kernel, rf.stride, rf.padding, rf.size, rf.jump, rf.start,
                          rf.out_size)


def receptive_field_box(rf: ReceptiveField, row: int, col: int) -> tuple[int, int, int]:
    """``(top, left, size)`` of the square of input pixels seen by the unit at (``row``, ``col``).

    The centre is ``start + jump·index`` on each axis and the square spans ``size`` pixels around it;
    ``top``/``left`` can be negative and the square can pass the image's far edge (padding).
    """
    _check_rf(rf)
    for value, name in ((row, "row"), (col, "col")):
        if not 0 <= integer(value, name) < rf.out_size:
            raise ValueError(f"{name}: expected 0 <= {name} < {rf.out_size} (the layer's output size), "
                             f"got {value}")
    top = int(round(rf.start + rf.jump * int(row) - (rf.size - 1) / 2))
    left = int(round(rf.start + rf.jump * int(col) - (rf.size - 1) / 2))
    return top, left, rf.size


def crop_patch(image: torch.Tensor, top: int, left: int, size: int, fill: float = 0.0) -> torch.Tensor:
    """The ``size``×``size`` window of ``image`` (C×H×W) whose top-left pixel is (``top``, ``left``).

    The window may stick out of the image (negative ``top``/``left`` or past the far edge): those pixels
    are ``fill``, and the image content keeps its place inside the window. Returns C×size×size.
    """
    image = check_images(image, "image", ndim=3)
    top, left = integer(top, "top"), integer(left, "left")
    size, fill = positive_int(size, "size"), finite_number(fill, "fill")
    _, h, w = image.shape
    out = image.new_full((image.shape[0], size, size), fill)
    r0, r1 = max(top, 0), min(top + size, h)
    c0, c1 = max(left, 0), min(left + size, w)
    if r0 < r1 and c0 < c1:
        out[:, r0 - top:r1 - top, c0 - left:c1 - left] = image[:, r0:r1, c0:c1]
    return out


def _locations(values, name: str) -> list[int]:
    if isinstance(values, torch.Tensor):
        if values.is_floating_point() or values.ndim != 1:
            raise TypeError(f"{name}: expected a 1-d tensor or list of ints, got {values.dtype} "
                            f"shape {tuple(values.shape)}")
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a list of ints, got {type(values).__name__}")
    return [integer(v, name) for v in values]


def receptive_field_patches(images: torch.Tensor, rf: ReceptiveField, rows: Sequence[int],
                            cols: Sequence[int], fill: float = 0.0) -> torch.Tensor:
    """For each image ``images[i]`` (N×C×H×W) the patch under the unit at (``rows[i]``, ``cols[i]``).

    Returns N×C×S×S with S = ``rf.size``; parts of the receptive field outside the image are ``fill``.
    """
    images = check_images(images, "images", allow_empty=True)
    _check_rf(rf)
    rows, cols = _locations(rows, "rows"), _locations(cols, "cols")
    if not len(rows) == len(cols) == len(images):
        raise ValueError(f"rows, cols: expected {len(images)} locations each, got {len(rows)} and {len(cols)}")
    patches = []
    for image, r, c in zip(images, rows, cols):
        top, left, size = receptive_field_box(rf, r, c)
        patches.append(crop_patch(image, top, left, size, fill))
    return torch.stack(patches) if patches else images.new_zeros(0, images.shape[1], rf.size, rf.size)


def gradient_support(model: nn.Module, layer: str | nn.Module, inputs: torch.Tensor, row: int, col: int
                     ) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` (inclusive) of the input pixels with a nonzero gradient of the unit.

    The unit's value is the output of ``layer`` (a name or the module) at (``row``, ``col``) summed over
    channels and over the batch ``inputs`` (N×C×H×W); summing makes a zero gradient from one dead ReLU or
    one max-pool switch unlikely. Its support lies inside the receptive field; for generic inputs it fills
    the part inside the image. Raises ``ValueError`` if the gradient is zero everywhere.
    """
    layer, _ = resolve_layer(model, layer)
    inputs = check_model_inputs(inputs, model).detach().clone().requires_grad_(True)
    row, col = integer(row, "row"), integer(col, "col")
    with preserved_state(model), capture_activations(model, layer, detach=False) as acts:
        model(inputs)
        out = acts[layer]
        if out.ndim != 4:
            raise ValueError(f"layer: expected a conv layer with N×C×H×W outputs, got {tuple(out.shape)}")
        if not (0 <= row < out.shape[2] and 0 <= col < out.shape[3]):
            raise ValueError(f"row, col: ({row}, {col}) is outside the {out.shape[2]}×{out.shape[3]} map")
        grad, = torch.autograd.grad(out[:, :, row, col].sum(), inputs)
    nonzero = grad.abs().sum(dim=(0, 1)).nonzero()
    if len(nonzero) == 0:
        raise ValueError("inputs: the gradient is zero everywhere (all units dead for these inputs?)")
    return (int(nonzero[:, 0].min()), int(nonzero[:, 0].max()), int(nonzero[:, 1].min()),
            int(nonzero[:, 1].max()))
