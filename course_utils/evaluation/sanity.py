"""Sanity checks for saliency maps (Adebayo et al. 2018): do the maps change when the weights do?

* ``rank_correlation(a, b)`` – Spearman correlation between matching maps, one value per map.
* ``randomize_layers(model, layers)`` – a copy of the model with some layers re-initialized.
* ``parameter_layers``, ``randomized_models`` – cascading (top-down) or independent randomization.
* ``map_rank_correlation``, ``model_randomization_test``, ``summarize_correlations`` – how much a method's
  maps change as more weights are randomized.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..validation import (check_bool, check_finite, check_model_inputs, check_module, integer, one_of, positive_int,
                          resolve_layer)
from .maps import sum_channels

MODES = ("cascading", "independent")


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation between matching maps: two N×… tensors → N values in [−1, 1] (float64).

    Each map is flattened, ranked (ties get their average rank) and the Pearson correlation of the ranks
    is returned. A constant map has no ranking: its correlation is NaN. NaN/inf in a map are an error.
    """
    from scipy.stats import rankdata
    for t, name in ((a, "a"), (b, "b")):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a tensor N×… (one map per row), got {type(t).__name__}")
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"a, b: expected two tensors of the same shape N×…, got {tuple(a.shape)} and {tuple(b.shape)}")
    check_finite(a, "a")
    check_finite(b, "b")
    ra = rankdata(a.detach().flatten(1).cpu().double().numpy(), axis=1)
    rb = rankdata(b.detach().flatten(1).cpu().double().numpy(), axis=1)
    ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ra * rb).sum(1) / np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    return torch.from_numpy(r)


def _layer_names(model: nn.Module, layers, name: str = "layers") -> list[str]:
    """Names of ``layers`` (names or submodules of ``model``; one of them or a list), checked up front."""
    check_module(model)
    given = [layers] if isinstance(layers, (str, nn.Module)) else layers
    if not isinstance(given, (list, tuple)):
        raise TypeError(f"{name}: expected a list of layer names or modules, got {type(layers).__name__}")
    if not given:
        raise ValueError(f"{name}: expected at least one layer name")
    return [resolve_layer(model, layer, name)[0] for layer in given]


def randomize_layers(model: nn.Module, layers: Sequence[str | nn.Module], seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose ``layers`` (names or modules with parameters) get fresh random weights.

    Conv/linear weights are redrawn with PyTorch's default initialization (``reset_parameters``); batch
    norms are left alone (they only rescale). The original model is not touched. Cascading randomization
    (Adebayo et al. 2018) calls this with the top layer, then the top two, ...
    """
    names = _layer_names(model, layers)
    seed = integer(seed, "seed")
    modules = dict(model.named_modules())
    for name in names:
        if not any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in modules[name].modules()):
            raise ValueError(f"layers: {name!r} has no convolution or linear layer to randomize")
    clone = copy.deepcopy(model)
    cloned = dict(clone.named_modules())
    with torch.random.fork_rng(devices=[]):   # reset_parameters draws from the global generator
        torch.manual_seed(seed)
        for name in names:
            for m in cloned[name].modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.reset_parameters()
    return clone


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the model's Conv2d and Linear layers, from the output back to the input (cascading order)."""
    check_module(model)
    names = [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return names[::-1]


def randomized_models(model: nn.Module, layers: Sequence[str | nn.Module] | None = None, mode: str = "cascading",
                      seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """Yield (layer name, randomized copy of ``model``) for each of ``layers`` in turn (Adebayo et al. 2018).

    ``layers`` defaults to ``parameter_layers(model)`` (top first). ``"cascading"``: the k-th copy has
    layers[0..k] re-initialized (randomization proceeds from the output towards the input);
    ``"independent"``: the k-th copy has only layers[k] re-initialized. Weights are redrawn by
    ``randomize_layers`` (PyTorch's default initialization, BatchNorm kept), seeded by ``seed``.
    ``model`` itself is never modified; copies are made one at a time.
    """
    one_of(mode, "mode", MODES)
    names = _layer_names(model, parameter_layers(model) if layers is None else layers)   # errors before any work
    seed = integer(seed, "seed")
    for k, name in enumerate(names):
        chosen = names[:k + 1] if mode == "cascading" else [name]
        yield name, randomize_layers(model, chosen, seed=seed)


def map_rank_correlation(a: torch.Tensor, b: torch.Tensor, absolute: bool = True) -> torch.Tensor:
    """Spearman rank correlation between maps ``a`` and ``b`` (N×C×H×W or N×H×W, channels summed): N values.

    With ``absolute`` the magnitudes are compared (Adebayo et al. report both, since many methods' signs
    are unreliable). A constant map has no ranking: its correlation is NaN.
    """
    ma, mb = sum_channels(a, "a"), sum_channels(b, "b")
    if ma.shape != mb.shape:
        raise ValueError(f"b: expected the same shape as a {tuple(a.shape)}, got {tuple(b.shape)}")
    check_bool(absolute, "absolute")
    if absolute:
        ma, mb = ma.abs(), mb.abs()
    return rank_correlation(ma, mb).float()


def _method_maps(method: Callable, model: nn.Module, inputs: torch.Tensor, target, options: dict) -> torch.Tensor:
    maps = method(model, inputs, target, **options)
    if not isinstance(maps, torch.Tensor) or maps.ndim not in (3, 4) or len(maps) != len(inputs):
        raise ValueError(f"method: expected {len(inputs)} maps N×C×H×W or N×H×W, got "
                         f"{getattr(maps, 'shape', type(maps).__name__)}")
    return check_finite(maps.detach(), "method (its maps)")


def model_randomization_test(method: Callable, model: nn.Module, inputs: torch.Tensor, target,
                             mode: str = "cascading", layers: Sequence[str | nn.Module] | None = None, seed: int = 0,
                             absolute: bool = True, **method_options) -> dict[str, torch.Tensor]:
    """Rank correlation between ``method``'s maps on ``model`` and on randomized copies of it.

    ``method(model, inputs, target, **method_options)`` is any attribution method of the course. Returns
    ``{layer: correlations N, ...}`` in the order the layers were randomized (see ``randomized_models``).
    A method that explains the *model* gives correlations that fall towards 0 as more weights are
    randomized; one that stays high is mostly showing the input.
    """
    if not callable(method):
        raise TypeError(f"method: expected an attribution function, got {type(method).__name__}")
    inputs = check_model_inputs(inputs, model)
    copies = randomized_models(model, layers, mode, seed)
    first = next(copies)                     # argument errors (mode, layers) before the first map
    reference = _method_maps(method, model, inputs, target, method_options)
    results = {}
    for name, randomized in [first, *copies]:
        maps = _method_maps(method, randomized, inputs, target, method_options)
        results[name] = map_rank_correlation(reference, maps, absolute)
    return results


def summarize_correlations(results: dict[str, dict[str, torch.Tensor]], digits: int = 2) -> str:
    """A text table of mean rank correlations: rows = methods, columns = randomized layers.

    ``results`` maps a method's name to the output of ``model_randomization_test``. NaNs (constant maps)
    are left out of the means.
    """
    if not isinstance(results, dict) or not all(isinstance(v, dict) for v in results.values()):
        raise TypeError(f"results: expected a dict {{method name: model_randomization_test(...)}}, "
                        f"got {type(results).__name__}")
    if not results:
        raise ValueError("results: expected at least one method")
    digits = positive_int(digits, "digits", minimum=0)
    columns = list(next(iter(results.values())))
    width = max(len(c) for c in columns + ["0.00"]) + 1
    name_width = max(len(m) for m in results) + 1
    lines = [" " * name_width + "".join(c.rjust(width) for c in columns)]
    for method, per_layer in results.items():
        if list(per_layer) != columns:
            raise ValueError(f"results: method {method!r} has layers {list(per_layer)}, expected {columns}")
        cells = [f"{torch.nanmean(torch.as_tensor(per_layer[c]).double()).item():.{digits}f}" for c in columns]
        lines.append(method.ljust(name_width) + "".join(x.rjust(width) for x in cells))
    return "\n".join(lines)
