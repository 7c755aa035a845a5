"""Neuron Shapley (Ghorbani & Zou 2020): how much each channel of a layer contributes to a model's accuracy.

Channels are the *players* of a cooperative game; a *coalition* S is a set of channels kept, every other
channel being *removed* (its activation replaced by its mean over held-out data, or by zero). The value
V(S) is the model's performance with only S kept. The Shapley value of player i averages its marginal
contribution V(S ∪ {i}) − V(S) over all orders in which the players could join:

    φ_i = Σ_{S ⊆ N∖{i}}  |S|! (n − |S| − 1)! / n!  · (V(S ∪ {i}) − V(S)).

A *game* is any object with an ``n_players`` attribute that maps a K×n bool tensor of coalitions (row k,
column i: is player i in coalition k?) to K values (a float64 tensor). This module holds

* removal: ``removed_channels(model, layer, channels, replacement)`` (a context manager) and
  ``channel_means(model, layer, inputs)``;
* games: ``LayerGame`` (channels of a layer, activations cached once, coalitions evaluated in batches),
  ``FunctionGame`` and the textbook games ``additive_game``, ``glove_game``, ``voting_game``;
* estimators, all returning a ``ShapleyResult``: ``exact_shapley`` (enumeration, n ≤ 20),
  ``permutation_shapley`` (Monte Carlo over permutations, optionally truncated) and ``tmab_shapley``
  (the paper's truncated multi-armed bandit that only refines players whose confidence interval
  straddles the top-k boundary);
* ``ablation_curve`` / ``random_ablation_curves`` and plotting helpers.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..hooks import capture_activations, get_layer, preserved_state
from ..progress import progress

__all__ = [
    "removed_channels", "channel_means", "LayerGame", "FunctionGame", "additive_game", "glove_game",
    "voting_game", "ShapleyResult", "exact_shapley", "permutation_shapley", "tmab_shapley",
    "ablation_curve", "random_ablation_curves", "coalition_masks", "plot_shapley", "plot_ablation",
]


# ------------------------------------------------------------------------------------------- removal
def _channel_mask(channels, n_channels: int, name: str = "channels") -> torch.Tensor:
    """Indices or a bool mask → a bool mask of length ``n_channels`` (True = channel listed)."""
    if isinstance(channels, torch.Tensor) and channels.dtype == torch.bool:
        if channels.shape != (n_channels,):
            raise ValueError(f"{name}: a bool mask must have shape ({n_channels},), got {tuple(channels.shape)}")
        return channels.clone()
    if isinstance(channels, (int, np.integer)) and not isinstance(channels, bool):
        channels = [int(channels)]
    if isinstance(channels, torch.Tensor):
        if channels.is_floating_point():
            raise TypeError(f"{name}: expected channel indices (ints) or a bool mask, got a {channels.dtype} tensor")
        channels = channels.reshape(-1).tolist()
    try:
        items = list(channels)
    except TypeError:
        raise TypeError(f"{name}: expected an int, a sequence of ints or a bool mask, "
                        f"got {type(channels).__name__}") from None
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in items):
        raise TypeError(f"{name}: expected channel indices (ints) or a bool tensor mask, got {items[:5]}")
    idx = [int(c) for c in items]
    bad = [c for c in idx if not 0 <= c < n_channels]
    if bad:
        raise ValueError(f"{name}: the layer has {n_channels} channels (0..{n_channels - 1}), got {bad[:5]}")
    mask = torch.zeros(n_channels, dtype=torch.bool)
    mask[idx] = True
    return mask


def _fill_values(replacement, activation_shape: torch.Size, name: str = "replacement") -> torch.Tensor:
    """The values removed channels take, broadcastable to one activation C(×H×W): zeros, or a tensor."""
    if replacement is None or (isinstance(replacement, str) and replacement == "zero"):
        return torch.zeros((activation_shape[0],) + (1,) * (len(activation_shape) - 1))
    if isinstance(replacement, str):
        raise ValueError(f"{name}: expected None/'zero' or a tensor of per-channel values, got {replacement!r}")
    if not isinstance(replacement, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor of shape (C,) or C×H×W, got {type(replacement).__name__}")
    c = activation_shape[0]
    if replacement.ndim == len(activation_shape) and replacement.shape[0] == c and all(
            r in (1, a) for r, a in zip(replacement.shape[1:], activation_shape[1:])):
        return replacement.detach().float()          # C×H×W, or C×1×1 broadcast over positions
    if replacement.shape == (c,):
        return replacement.detach().float().view((c,) + (1,) * (len(activation_shape) - 1))
    raise ValueError(f"{name}: expected shape ({c},) or {tuple(activation_shape)} for an activation of shape "
                     f"{tuple(activation_shape)}, got {tuple(replacement.shape)}")


def _replace(acts: torch.Tensor, remove: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``acts`` N×C(×H×W) with the channels where ``remove`` (C, or N×C) is True set to ``fill``."""
    rows = remove.shape[0] if remove.ndim == 2 else 1
    shape = (rows, acts.shape[1]) + (1,) * (acts.ndim - 2)
    return torch.where(remove.view(shape).to(acts.device), fill.to(acts.device, acts.dtype), acts)


@contextmanager
def removed_channels(model: nn.Module, layer: str, channels, replacement=None) -> Iterator[nn.Module]:
    """Inside the block, channels ``channels`` of ``layer``'s output are removed from ``model``.

    ``channels``: an int, a sequence of ints or a bool mask of length C. ``replacement``: ``None`` or
    ``"zero"`` (set them to 0), or a tensor of shape (C,) or C×H×W (e.g. ``channel_means(...)``) whose
    entries for the removed channels replace them. The forward hook is removed when the block ends,
    even if it raises; the model's parameters are not touched.

        with removed_channels(model, "relu4", [3, 17], replacement=means):
            logits = model(x)
    """
    module = get_layer(model, layer)
    if isinstance(replacement, torch.Tensor):
        _channel_mask(channels, replacement.shape[0])      # fail early when the size is already known

    def hook(mod, inputs, output):
        if not isinstance(output, torch.Tensor) or output.ndim < 2:
            raise ValueError(f"layer: {layer!r} must output a tensor N×C(×H×W) to remove channels")
        remove = _channel_mask(channels, output.shape[1])
        fill = _fill_values(replacement, output.shape[1:])
        return _replace(output, remove, fill)

    handle = module.register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


def _check_images(inputs: torch.Tensor, name: str = "inputs") -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor N×C×H×W, got {type(inputs).__name__}")
    if inputs.ndim < 2 or len(inputs) == 0:
        raise ValueError(f"{name}: expected a non-empty batch (N×C×H×W), got shape {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {inputs.dtype}")
    return inputs


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    return batch_size


@torch.no_grad()
def layer_activations(model: nn.Module, layer: str, inputs: torch.Tensor, batch_size: int = 500,
                      show_progress: bool = False) -> torch.Tensor:
    """The output of ``layer`` for every input: N×C×H×W (or N×C), computed in batches, model restored."""
    _check_images(inputs)
    _check_batch_size(batch_size)
    device = next(model.parameters(), torch.empty(0)).device
    out = []
    with preserved_state(model), capture_activations(model, layer) as acts:
        starts = range(0, len(inputs), batch_size)
        for s in progress(starts, enabled=show_progress, desc=f"activations of {layer}"):
            model(inputs[s:s + batch_size].to(device))
            out.append(acts[layer].cpu())
    return torch.cat(out)


def channel_means(model: nn.Module, layer: str, inputs: torch.Tensor, spatial: bool = True,
                  batch_size: int = 500) -> torch.Tensor:
    """Mean activation of every channel of ``layer`` over ``inputs`` (held-out data).

    Returns C×H×W (the mean at every position) or, with ``spatial=False``, C (also averaged over positions).
    Used as the ``replacement`` of a removed channel: the next layer then sees an "average" input.
    """
    mean = layer_activations(model, layer, inputs, batch_size).mean(0)
    return mean if spatial or mean.ndim == 1 else mean.flatten(1).mean(1)


# ---------------------------------------------------------------------------------------------- games
def _check_coalitions(coalitions, n_players: int) -> torch.Tensor:
    """A 1-d or K×n bool (or 0/1) tensor → K×n bool tensor."""
    if isinstance(coalitions, np.ndarray):
        coalitions = torch.from_numpy(coalitions)
    if not isinstance(coalitions, torch.Tensor):
        raise TypeError(f"coalitions: expected a bool tensor K×{n_players}, got {type(coalitions).__name__}")
    if coalitions.ndim == 1:
        coalitions = coalitions[None]
    if coalitions.ndim != 2 or coalitions.shape[1] != n_players:
        raise ValueError(f"coalitions: expected a bool tensor K×{n_players} (one row per coalition), "
                         f"got shape {tuple(coalitions.shape)}")
    if coalitions.dtype != torch.bool:
        if coalitions.is_floating_point() or not ((coalitions == 0) | (coalitions == 1)).all():
            raise TypeError(f"coalitions: expected a bool tensor, got {coalitions.dtype}")
        coalitions = coalitions.bool()
    return coalitions


class FunctionGame:
    """A game given by a Python function of one coalition (a bool tensor of length n) → a number.

    ``batched=True`` means ``fn`` already takes a K×n bool tensor and returns K values.
    """

    def __init__(self, fn: Callable, n_players: int, batched: bool = False, name: str = "game") -> None:
        if not callable(fn):
            raise TypeError(f"fn: expected a function, got {type(fn).__name__}")
        if isinstance(n_players, bool) or not isinstance(n_players, int) or n_players < 1:
            raise ValueError(f"n_players: expected a positive int, got {n_players!r}")
        self.fn, self.n_players, self.batched, self.name = fn, n_players, batched, name
        self.n_evaluations = 0

    def __call__(self, coalitions) -> torch.Tensor:
        c = _check_coalitions(coalitions, self.n_players)
        self.n_evaluations += len(c)
        if self.batched:
            return torch.as_tensor(self.fn(c), dtype=torch.float64).reshape(len(c))
        return torch.tensor([float(self.fn(row)) for row in c], dtype=torch.float64)

    def __repr__(self) -> str:
        return f"FunctionGame({self.name}, n_players={self.n_players})"


def additive_game(weights: Sequence[float]) -> FunctionGame:
    """V(S) = Σ_{i∈S} w_i. Its Shapley values are the weights themselves."""
    w = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
    return FunctionGame(lambda c: c.double() @ w, len(w), batched=True, name="additive")


def glove_game(left: int, right: int) -> FunctionGame:
    """Players 0..left−1 own a left glove, the next ``right`` a right glove; V(S) = number of pairs in S."""
    if min(left, right) < 0 or left + right < 1:
        raise ValueError(f"left, right: expected non-negative counts with at least one player, got {left}, {right}")
    return FunctionGame(lambda c: torch.minimum(c[:, :left].sum(1), c[:, left:].sum(1)).double(),
                        left + right, batched=True, name=f"glove({left} left, {right} right)")


def voting_game(weights: Sequence[float], quota: float) -> FunctionGame:
    """Weighted voting: V(S) = 1 if the weights in S add up to at least ``quota``, else 0."""
    w = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
    return FunctionGame(lambda c: (c.double() @ w >= quota).double(), len(w), batched=True,
                        name=f"voting(quota {quota})")


class LayerGame:
    """The Neuron Shapley game on the channels of one layer.

    V(S) = ``metric`` of the model on (``inputs``, ``labels``) when every player channel outside S is
    replaced by ``removal``: ``"mean"`` (its mean over ``inputs``), ``"zero"``, or a tensor (C,) / C×H×W
    of replacement values (e.g. means over a larger held-out set). The activations of ``layer`` are
    computed once; each coalition only runs the rest of the network (``tail``) on coalition × image
    rows, at most ``batch_size`` rows per pass (default: about 4 million activation values per pass).

    ``players``: the channel indices that are players (default: all C); the other channels always stay
    (``others="keep"``) or are always removed (``others="remove"``).
    ``metric``: ``"accuracy"``, ``"log_prob"`` (mean log-probability of the true class), or a function
    ``metric(logits K×N×classes, labels N) -> K``. ``tail``: a callable mapping the layer's activations
    to logits; by default the modules after ``layer`` when ``model`` is an ``nn.Sequential`` and
    ``layer`` one of its top-level children. ``activations``: the output of ``layer`` for the inputs,
    when already computed (then ``inputs`` may be ``None``).

        game = LayerGame(model, "relu4", images, labels)    # 64 players
        game(torch.ones(1, 64, dtype=torch.bool))           # V(N): the model's accuracy
    """

    ACTIVATIONS_PER_PASS = 4_000_000

    def __init__(self, model: nn.Module, layer: str, inputs: torch.Tensor | None, labels: torch.Tensor,
                 removal="mean", metric="accuracy", players: Sequence[int] | None = None, others: str = "keep",
                 tail: Callable | None = None, batch_size: int | None = None, activations: torch.Tensor | None = None,
                 show_progress: bool = False) -> None:
        if activations is None:
            _check_images(inputs)
        elif not isinstance(activations, torch.Tensor) or activations.ndim < 2 or not activations.is_floating_point():
            raise TypeError("activations: expected a floating tensor N×C(×H×W), the output of `layer`")
        elif inputs is not None and len(inputs) != len(activations):
            raise ValueError(f"activations: {len(activations)} rows for {len(inputs)} inputs")
        n = len(inputs) if activations is None else len(activations)
        if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.shape != (n,):
            raise ValueError(f"labels: expected an int tensor of shape ({n},), got "
                             + (f"shape {tuple(labels.shape)} {labels.dtype}" if isinstance(labels, torch.Tensor)
                                else type(labels).__name__))
        self.batch_size = None if batch_size is None else _check_batch_size(batch_size)
        if not (callable(metric) or metric in ("accuracy", "log_prob")):
            raise ValueError(f"metric: expected 'accuracy', 'log_prob' or a function, got {metric!r}")
        self.model, self.layer, self.metric = model, layer, metric
        self.tail = tail if tail is not None else _sequential_tail(model, layer)
        self.activations = (layer_activations(model, layer, inputs, show_progress=show_progress)
                            if activations is None else activations.detach().cpu())
        self.labels = labels.long().cpu()
        shape = self.activations.shape[1:]
        self.n_channels = shape[0]
        if isinstance(removal, str) and removal == "mean":
            self.fill = self.activations.mean(0)
        elif isinstance(removal, str) and removal != "zero":
            raise ValueError(f"removal: expected 'mean', 'zero' or a tensor of replacement values, got {removal!r}")
        else:
            self.fill = _fill_values(removal, shape, name="removal")
        self.removal = removal if isinstance(removal, str) else "custom"
        if players is None:
            self.players = torch.arange(self.n_channels)
        elif isinstance(players, torch.Tensor) and players.dtype == torch.bool:
            self.players = _channel_mask(players, self.n_channels, name="players").nonzero().flatten()
        else:
            mask = _channel_mask(players, self.n_channels, name="players")
            self.players = torch.as_tensor([int(p) for p in (players.tolist() if isinstance(players, torch.Tensor)
                                                             else players)]).reshape(-1)
            if int(mask.sum()) != len(self.players):
                raise ValueError("players: every channel may appear only once")
        if len(self.players) == 0:
            raise ValueError("players: expected at least one player channel")
        if others not in ("keep", "remove"):
            raise ValueError(f"others: expected 'keep' or 'remove' (what happens to non-player channels), got {others!r}")
        self.others = others
        self.n_players = len(self.players)
        self.n_evaluations = 0

    # -- evaluation
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters(), torch.empty(0)).device

    @torch.no_grad()
    def __call__(self, coalitions) -> torch.Tensor:
        """K×n bool coalitions (or one of length n) → K values (float64)."""
        c = _check_coalitions(coalitions, self.n_players)
        keep = torch.full((len(c), self.n_channels), self.others == "keep", dtype=torch.bool)
        keep[:, self.players] = c
        n, acts = len(self.labels), self.activations
        per_image = acts[0].numel()
        rows = self.batch_size or max(1, self.ACTIVATIONS_PER_PASS // per_image)
        images = min(n, rows)                             # images per pass ...
        per_group = max(1, rows // images)                # ... times coalitions per pass ≈ rows
        fill = self.fill.to(self.device)[None, None]
        values = []
        with self._tail_in_eval_mode():
            for g in range(0, len(c), per_group):
                k = keep[g:g + per_group].to(self.device)
                k = k.view(k.shape + (1,) * (acts.ndim - 2))[:, None]         # G×1×C(×1×1)
                parts = []
                for s in range(0, n, images):
                    a = acts[s:s + images].to(self.device)[None]              # 1×M×C(×H×W)
                    x = torch.where(k, a, fill)                               # G×M×C(×H×W)
                    parts.append(self.tail(x.flatten(0, 1)).view(len(k), a.shape[1], -1).cpu())
                values.append(self._metric(torch.cat(parts, 1)))
        self.n_evaluations += len(c)
        return torch.cat(values).double()

    @contextmanager
    def _tail_in_eval_mode(self):
        """Eval mode for the modules the tail runs (restored after); cheaper per call than the whole model."""
        if not isinstance(self.tail, nn.Module):
            with preserved_state(self.model, freeze=False):
                yield
            return
        flags = [(m, m.training) for m in self.tail.modules()]
        try:
            self.tail.eval()
            yield
        finally:
            for m, flag in flags:
                m.training = flag

    def _metric(self, logits: torch.Tensor) -> torch.Tensor:
        if self.metric == "accuracy":
            return (logits.argmax(-1) == self.labels).double().mean(1)
        if self.metric == "log_prob":
            logp = logits.double().log_softmax(-1)
            return logp.gather(2, self.labels.view(1, -1, 1).expand(len(logits), -1, 1)).squeeze(2).mean(1)
        out = torch.as_tensor(self.metric(logits, self.labels), dtype=torch.float64).reshape(-1)
        if out.shape != (len(logits),):
            raise ValueError(f"metric: must return one value per coalition ({len(logits)}), got shape {tuple(out.shape)}")
        return out

    # -- conveniences
    def value_without(self, removed) -> float:
        """V(N ∖ removed): the value with the listed players removed (indices into the players)."""
        keep = ~_channel_mask(removed, self.n_players, name="removed")
        return float(self(keep))

    def restrict(self, which: torch.Tensor) -> "LayerGame":
        """The same game (same cached activations, same replacement values) on a subset of the inputs.

        ``which``: a bool mask of length N or indices — e.g. ``game.restrict(game.labels == 3)`` for
        the class-specific game "accuracy on class 3".
        """
        idx = which.nonzero().flatten() if isinstance(which, torch.Tensor) and which.dtype == torch.bool \
            else torch.as_tensor(which).long().reshape(-1)
        if len(idx) == 0:
            raise ValueError("which: selects no input")
        new = object.__new__(LayerGame)
        new.__dict__.update(self.__dict__)
        new.activations, new.labels, new.n_evaluations = self.activations[idx], self.labels[idx], 0
        return new

    def __repr__(self) -> str:
        return (f"LayerGame({self.layer!r}, {self.n_players} players, {len(self.labels)} inputs, "
                f"removal={self.removal!r}, metric={self.metric if isinstance(self.metric, str) else 'custom'!r})")


def _sequential_tail(model: nn.Module, layer: str) -> nn.Module:
    """The modules of an nn.Sequential after its top-level child ``layer``, as a new nn.Sequential."""
    get_layer(model, layer)
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"tail: {type(model).__name__} is not an nn.Sequential, so the rest of the network after "
                         f"{layer!r} cannot be found automatically; pass tail=a function of the activations")
    names = [n for n, _ in model.named_children()]
    if layer not in names:
        raise ValueError(f"layer: {layer!r} must be a top-level layer of the nn.Sequential ({names}), "
                         "or pass tail=a function of its activations")
    after = names[names.index(layer) + 1:]
    return nn.Sequential(OrderedDict((n, getattr(model, n)) for n in after))


# ------------------------------------------------------------------------------------------ results
@dataclass
class ShapleyResult:
    """Shapley values (exact or estimated) of n players.

    ``values`` n (float64); ``stderr`` n, the standard error of each estimate (0 for exact values);
    ``counts`` n, how many marginal contributions each estimate averages; ``n_evaluations`` coalitions
    evaluated; ``seconds`` wall time; ``history`` (evaluations so far, estimate) after every block of
    permutations; ``bounds`` the TMAB confidence half-widths; ``method`` a name.
    """
    values: torch.Tensor
    stderr: torch.Tensor
    counts: torch.Tensor
    n_evaluations: int
    seconds: float
    method: str
    history: list = field(default_factory=list, repr=False)
    bounds: torch.Tensor | None = None
    n_permutations: int = 0

    def top(self, k: int) -> torch.Tensor:
        """Indices of the ``k`` players with the largest values, largest first."""
        return torch.argsort(self.values, descending=True, stable=True)[:k]

    def ci(self, level: float = 0.95) -> torch.Tensor:
        """Half-width of a normal-approximation confidence interval (``level``) for each value."""
        from statistics import NormalDist
        return NormalDist().inv_cdf(0.5 + level / 2) * self.stderr

    def __repr__(self) -> str:
        return (f"ShapleyResult({self.method}: {len(self.values)} players, {self.n_evaluations} evaluations, "
                f"{self.n_permutations} permutations, {self.seconds:.2f} s)")


def _check_game(game) -> int:
    n = getattr(game, "n_players", None)
    if not callable(game) or isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError("game: expected a callable with an int attribute n_players (e.g. a LayerGame or "
                        f"FunctionGame), got {type(game).__name__}")
    return n


def _evaluate(game, coalitions: torch.Tensor) -> torch.Tensor:
    values = torch.as_tensor(game(coalitions), dtype=torch.float64).reshape(-1)
    if values.shape != (len(coalitions),):
        raise ValueError(f"game: returned {values.numel()} values for {len(coalitions)} coalitions")
    return values


def coalition_masks(n_players: int) -> torch.Tensor:
    """All 2^n coalitions as a 2^n × n bool tensor; row s holds the bits of the integer s (player i = bit i)."""
    ints = torch.arange(2 ** n_players)
    return ((ints[:, None] >> torch.arange(n_players)) & 1).bool()


def exact_shapley(game, batch_size: int = 4096, max_players: int = 20, show_progress: bool = True) -> ShapleyResult:
    """Exact Shapley values by evaluating all 2^n coalitions (``batch_size`` per call to the game).

    φ_i = Σ_{S ∌ i} w(|S|) (V(S ∪ {i}) − V(S)) with w(s) = s!(n−s−1)!/n! = 1 / (n · C(n−1, s)).
    """
    n = _check_game(game)
    _check_batch_size(batch_size)
    if n > max_players:
        raise ValueError(f"game: exact enumeration of {n} players needs 2^{n} coalitions; it is limited to "
                         f"max_players={max_players} — use permutation_shapley or tmab_shapley")
    start = time.time()
    masks = coalition_masks(n)
    v = torch.cat([_evaluate(game, masks[s:s + batch_size])
                   for s in progress(range(0, len(masks), batch_size), enabled=show_progress, desc="coalitions")])
    # Each coalition S enters φ_i with weight w(|S|−1) when i ∈ S (as S∪{i}) and −w(|S|) when i ∉ S (as S).
    size = masks.sum(1)
    weight = torch.tensor([1.0 / (n * math.comb(n - 1, s)) for s in range(n)] + [0.0], dtype=torch.float64)
    w_in, w_out = weight[(size - 1).clamp(min=0)], weight[size]
    m = masks.double()
    phi = m.T @ (v * w_in) - (1 - m).T @ (v * w_out)
    return ShapleyResult(phi, torch.zeros(n, dtype=torch.float64), torch.full((n,), 2 ** (n - 1)),
                         len(masks), time.time() - start, "exact")


# ------------------------------------------------------------------------------ permutation sampling
class _Stats:
    """Running sums of each player's marginal contributions (NaN = not measured in that permutation)."""

    def __init__(self, n: int) -> None:
        self.sums = torch.zeros(n, dtype=torch.float64)
        self.squares = torch.zeros(n, dtype=torch.float64)
        self.counts = torch.zeros(n, dtype=torch.long)

    def add(self, marginals: torch.Tensor) -> None:
        seen = ~torch.isnan(marginals)
        m = torch.where(seen, marginals, torch.zeros_like(marginals))
        self.sums += m.sum(0)
        self.squares += (m * m).sum(0)
        self.counts += seen.sum(0)

    @property
    def means(self) -> torch.Tensor:
        return self.sums / self.counts.clamp(min=1)

    @property
    def variances(self) -> torch.Tensor:
        """Unbiased sample variance (0 where fewer than 2 samples)."""
        c = self.counts.double()
        var = (self.squares - self.sums ** 2 / c.clamp(min=1)) / (c - 1).clamp(min=1)
        return torch.where(self.counts > 1, var.clamp(min=0), torch.zeros_like(var))

    @property
    def stderr(self) -> torch.Tensor:
        return (self.variances / self.counts.clamp(min=1)).sqrt()


def _check_direction(direction: str) -> int:
    if direction not in ("add", "remove"):
        raise ValueError(f"direction: expected 'add' (grow coalitions from ∅) or 'remove' (shrink them from N), "
                         f"got {direction!r}")
    return 1 if direction == "add" else -1


def _scan_permutations(game, perms: torch.Tensor, active: torch.Tensor, v_full: float, v_empty: float,
                       truncation: float | None, patience: int, direction: str, chunk: int
                       ) -> tuple[torch.Tensor, int]:
    """Marginal contributions along each permutation (P×n, NaN where not measured) and evaluations used.

    Along permutation π the coalitions are C_0, C_1, ..., C_n: C_j = {π_1..π_j} when adding, N ∖ {π_1..π_j}
    when removing. The marginal contribution of π_j is V(C_j) − V(C_{j−1}) (adding) or V(C_{j−1}) − V(C_j)
    (removing). Only players in ``active`` are measured; the steps of other players are taken without
    evaluating anything. With ``truncation``, once |V(C_j) − V(C_n)| ≤ truncation at ``patience``
    consecutive measured steps, the remaining marginal contributions of that permutation are set to 0.
    Positions are processed ``chunk`` at a time for all permutations still running, so each call to the
    game holds many coalitions.
    """
    p_count, n = perms.shape
    add = direction == "add"
    v_start, v_end = (v_empty, v_full) if add else (v_full, v_empty)
    vals = torch.full((p_count, n + 1), float("nan"), dtype=torch.float64)
    vals[:, 0], vals[:, n] = v_start, v_end
    position = torch.empty_like(perms)
    position.scatter_(1, perms, torch.arange(n).expand(p_count, n).contiguous())   # position[p, i] = step of i (0-based)
    marg = torch.full((p_count, n), float("nan"), dtype=torch.float64)
    measured = active[perms]                                     # P×n: is the player at step j+1 measured?
    running = torch.ones(p_count, dtype=torch.bool)
    streak = torch.zeros(p_count, dtype=torch.long)
    evaluations = 0
    for a in range(1, n + 1, chunk):
        steps = range(a, min(a + chunk, n + 1))
        # the coalitions C_j (j in steps or j = a−1) needed by a measured step of a running permutation
        need = torch.zeros(p_count, n + 1, dtype=torch.bool)
        for j in steps:
            m = measured[:, j - 1] & running
            need[:, j] |= m
            need[:, j - 1] |= m
        need &= torch.isnan(vals)
        pi, ji = need.nonzero(as_tuple=True)
        if len(pi):
            joined = position[pi] < ji[:, None]                  # player joined (or left) before step ji
            coalitions = joined if add else ~joined
            vals[pi, ji] = _evaluate(game, coalitions)
            evaluations += len(pi)
        for j in steps:
            m = measured[:, j - 1] & running
            if not m.any():
                continue
            delta = vals[:, j] - vals[:, j - 1]
            marg[m, perms[m, j - 1]] = delta[m] if add else -delta[m]
            if truncation is not None:
                close = (vals[:, j] - v_end).abs() <= truncation
                streak = torch.where(m, torch.where(close, streak + 1, torch.zeros_like(streak)), streak)
                stop = m & (streak >= patience)
                if stop.any():                                    # players after step j contribute 0
                    marg[stop[:, None] & (position >= j) & active[None, :]] = 0.0
                    running &= ~stop
        if not running.any():
            break
    return marg, evaluations


def _check_common(truncation, patience, chunk, block) -> None:
    if truncation is not None and (isinstance(truncation, bool) or not isinstance(truncation, (int, float))
                                   or truncation < 0):
        raise ValueError(f"truncation: expected None or a non-negative tolerance, got {truncation!r}")
    for name, v in (("patience", patience), ("chunk", chunk), ("block", block)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")


def _end_values(game, n: int) -> tuple[float, float]:
    ends = _evaluate(game, torch.stack([torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)]))
    return float(ends[0]), float(ends[1])


def permutation_shapley(game, n_permutations: int = 100, truncation: float | None = None, patience: int = 1,
                        direction: str = "remove", block: int = 16, chunk: int = 4, seed: int = 0,
                        show_progress: bool = True) -> ShapleyResult:
    """Monte Carlo Shapley values: average marginal contributions over random permutations.

    Each permutation π gives one marginal contribution per player; their average over ``n_permutations``
    random permutations is an unbiased estimate of φ (Castro et al. 2009). ``direction="remove"`` walks
    from the full coalition down (the Neuron Shapley paper's choice), ``"add"`` from ∅ up; without
    truncation both give the same estimator. ``truncation``: stop a permutation once the value is within
    this tolerance of where the walk ends (V(∅) when removing, V(N) when adding), for ``patience`` steps
    in a row, and count the remaining contributions as 0 (Ghorbani & Zou 2019/2020) — saves evaluations,
    adds a small bias. ``block`` permutations are scanned together; ``seed`` fixes them.
    """
    n = _check_game(game)
    _check_direction(direction)
    _check_common(truncation, patience, chunk, block)
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, int) or n_permutations < 1:
        raise ValueError(f"n_permutations: expected a positive int, got {n_permutations!r}")
    start = time.time()
    gen = torch.Generator().manual_seed(seed)
    v_full, v_empty = _end_values(game, n)
    stats, evaluations, history = _Stats(n), 2, []
    active = torch.ones(n, dtype=torch.bool)
    for s in progress(range(0, n_permutations, block), enabled=show_progress, desc="permutations",
                      total=math.ceil(n_permutations / block)):
        perms = torch.stack([torch.randperm(n, generator=gen) for _ in range(min(block, n_permutations - s))])
        marg, used = _scan_permutations(game, perms, active, v_full, v_empty, truncation, patience, direction, chunk)
        stats.add(marg)
        evaluations += used
        history.append((evaluations, stats.means.clone()))
    name = "truncated Monte Carlo" if truncation is not None else "Monte Carlo"
    return ShapleyResult(stats.means, stats.stderr, stats.counts, evaluations, time.time() - start, name,
                         history, n_permutations=n_permutations)


def bernstein_bound(variances: torch.Tensor, counts: torch.Tensor, value_range: float, delta: float) -> torch.Tensor:
    """Empirical Bernstein confidence half-width (Maurer & Pontil 2009), as used by TMAB-Shapley.

    sqrt(2 σ² log(2/δ) / t) + 7 R log(2/δ) / (3 (t − 1)); R (``value_range``) where t ≤ 1.
    """
    t = counts.double()
    log_term = math.log(2 / delta)
    cb = (2 * variances * log_term / t.clamp(min=1)).sqrt() + 7 * value_range * log_term / (3 * (t - 1).clamp(min=1))
    return torch.where(counts > 1, cb, torch.full_like(cb, float(value_range)))


def tmab_shapley(game, k: int, delta: float = 0.2, value_range: float | None = None,
                 truncation: float | None = None, patience: int = 1, direction: str = "remove",
                 block: int = 16, chunk: int = 4, max_permutations: int = 5000, adaptive: bool = True,
                 seed: int = 0, show_progress: bool = True) -> ShapleyResult:
    """Truncated multi-armed-bandit Shapley (TMAB, Ghorbani & Zou 2020): find the top-``k`` players.

    Permutations are scanned ``block`` at a time (as in ``permutation_shapley``), but only the players
    whose confidence interval [φ̂_i − b_i, φ̂_i + b_i] contains the top-k boundary are measured (and the
    coalitions around them evaluated); the others are stepped over. ``b_i`` is the empirical Bernstein
    bound with confidence ``delta`` and range ``value_range`` (default |V(N) − V(∅)|, a scale for the
    marginal contributions; the paper uses 1 for accuracy). The boundary is halfway between the k-th and
    (k+1)-th estimates (the paper's code uses the (k+1)-th estimate itself and stops when only that player
    is left, which also demands separating the (k+1)-th from the (k+2)-th). It stops when no interval
    contains the boundary, or after ``max_permutations``. ``adaptive=False`` measures every player in every
    permutation with the same stopping rule: truncated Monte Carlo run to the same confidence.
    """
    n = _check_game(game)
    _check_direction(direction)
    _check_common(truncation, patience, chunk, block)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"k: expected an int in 1..{n - 1} (the number of top players to find), got {k!r}")
    if not 0 < delta < 1:
        raise ValueError(f"delta: expected a probability in (0, 1), got {delta!r}")
    if isinstance(max_permutations, bool) or not isinstance(max_permutations, int) or max_permutations < 1:
        raise ValueError(f"max_permutations: expected a positive int, got {max_permutations!r}")
    start = time.time()
    gen = torch.Generator().manual_seed(seed)
    v_full, v_empty = _end_values(game, n)
    if value_range is None:
        value_range = abs(v_full - v_empty) or 1.0
    stats, evaluations, history, done = _Stats(n), 2, [], 0
    active = torch.ones(n, dtype=torch.bool)
    bar = progress(range(0, max_permutations, block), enabled=show_progress, desc="TMAB permutations",
                   total=math.ceil(max_permutations / block))
    for s in bar:
        perms = torch.stack([torch.randperm(n, generator=gen) for _ in range(min(block, max_permutations - s))])
        marg, used = _scan_permutations(game, perms, active if adaptive else torch.ones(n, dtype=torch.bool),
                                        v_full, v_empty, truncation, patience, direction, chunk)
        stats.add(marg)
        evaluations += used
        done += len(perms)
        history.append((evaluations, stats.means.clone()))
        bounds = bernstein_bound(stats.variances, stats.counts, value_range, delta)
        means = stats.means
        ranked = torch.sort(means, descending=True).values
        threshold = (ranked[k - 1] + ranked[k]) / 2          # the boundary between the top k and the rest
        active = (means - bounds < threshold) & (means + bounds > threshold)
        if not active.any():
            break
    name = "TMAB" if adaptive else "truncated Monte Carlo (same stopping rule)"
    return ShapleyResult(stats.means, stats.stderr, stats.counts, evaluations, time.time() - start, name,
                         history, bounds=bounds, n_permutations=done)


# --------------------------------------------------------------------------------------- ablations
def ablation_curve(game, order: Sequence[int], max_removed: int | None = None) -> torch.Tensor:
    """V(N ∖ {order[0..k−1]}) for k = 0..max_removed: the value as the players are removed in ``order``.

    One call to the game with all the coalitions. Returns a float64 tensor of length max_removed + 1.
    """
    n = _check_game(game)
    order = torch.as_tensor(order).long().reshape(-1)
    if len(order) == 0 or order.min() < 0 or order.max() >= n or len(set(order.tolist())) != len(order):
        raise ValueError(f"order: expected distinct player indices in 0..{n - 1}")
    m = len(order) if max_removed is None else max_removed
    if not 0 <= m <= len(order):
        raise ValueError(f"max_removed: expected 0..{len(order)}, got {max_removed!r}")
    keep = torch.ones(m + 1, n, dtype=torch.bool)
    for j in range(1, m + 1):
        keep[j:, order[j - 1]] = False
    return _evaluate(game, keep)


def random_ablation_curves(game, n_orders: int = 10, max_removed: int | None = None, seed: int = 0) -> torch.Tensor:
    """``n_orders`` × (max_removed + 1) ablation curves for random removal orders (a baseline)."""
    n = _check_game(game)
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([ablation_curve(game, torch.randperm(n, generator=gen), max_removed) for _ in range(n_orders)])


# ---------------------------------------------------------------------------------------- plotting
def plot_shapley(result, ax=None, ci: float | None = 0.95, labels: Sequence[str] | None = None,
                 top: int | None = None, title: str = "Shapley values", ylabel: str = "Shapley value"):
    """Bar chart of Shapley values sorted from largest to smallest (with confidence intervals); returns Axes.

    ``result``: a ShapleyResult or a tensor of values; ``top``: only the largest ``top`` bars.
    """
    import matplotlib.pyplot as plt
    values = result.values if isinstance(result, ShapleyResult) else torch.as_tensor(result, dtype=torch.float64)
    order = torch.argsort(values, descending=True, stable=True)[:top]
    err = None
    if isinstance(result, ShapleyResult) and ci is not None and float(result.stderr.abs().sum()) > 0:
        err = result.ci(ci)[order].numpy()
    ax = ax or plt.subplots(figsize=(8, 2.8))[1]
    ax.bar(range(len(order)), values[order].numpy(), yerr=err, color="tab:blue", ecolor="0.4", capsize=1.5)
    names = [labels[i] for i in order] if labels is not None else [str(int(i)) for i in order]
    ax.set_xticks(range(len(order)), names, rotation=90 if len(order) > 16 else 0, fontsize=7)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set(title=title, xlabel="player (sorted by value)", ylabel=ylabel)
    return ax


def plot_ablation(curves: dict, ax=None, title: str = "Ablation curves", ylabel: str = "accuracy",
                  chance: float | None = None):
    """Value against the number of players removed, one line per ranking (dict name → 1-d or R×K curves).

    A 2-d entry (several random orders) is drawn as its mean with a band from min to max. Returns Axes.
    """
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    for name, curve in curves.items():
        c = torch.as_tensor(curve, dtype=torch.float64)
        if c.ndim == 2:
            x = np.arange(c.shape[1])
            line, = ax.plot(x, c.mean(0).numpy(), label=f"{name} (mean of {len(c)})")
            ax.fill_between(x, c.min(0).values.numpy(), c.max(0).values.numpy(), color=line.get_color(), alpha=0.2)
        else:
            ax.plot(np.arange(len(c)), c.numpy(), label=name, marker="o" if len(c) <= 20 else None, ms=3)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", label="chance")
    ax.set(title=title, xlabel="players removed", ylabel=ylabel)
    ax.legend(fontsize=7)
    return ax
