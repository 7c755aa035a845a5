"""Games: the value V(S) of every coalition S of players.

A *game* is any callable with an ``n_players`` attribute that maps a K×n bool tensor of coalitions (row k,
column i: is player i in coalition k?) to K values (a float64 tensor).

* ``LayerGame`` – Neuron Shapley's game: the channels of one layer are the players, V(S) the model's
  accuracy with every channel outside S removed (activations cached once, coalitions in batches);
* ``FunctionGame`` and the textbook games ``additive_game``, ``glove_game``, ``voting_game``;
* ``coalition_masks(n)`` – all 2^n coalitions.
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..hooks import preserved_state
from ..validation import (check_finite, check_model_inputs, class_indices, finite_number, model_device, one_of,
                          positive_int, resolve_layer)
from .removal import check_replacement, fill_values, indices, layer_activations

__all__ = ["FunctionGame", "additive_game", "glove_game", "voting_game", "LayerGame", "coalition_masks",
           "marginal_range"]


# ----------------------------------------------------------------------------------- the game protocol
def check_game(game) -> int:
    """The number of players of ``game`` (a callable with an int attribute ``n_players``)."""
    n = getattr(game, "n_players", None)
    if not callable(game) or isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError("game: expected a callable with an int attribute n_players (e.g. a LayerGame or "
                        f"FunctionGame), got {type(game).__name__}")
    return n


def check_coalitions(coalitions, n_players: int) -> torch.Tensor:
    """A 1-d or K×n bool (or 0/1 integer) tensor → K×n bool tensor."""
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


def as_values(raw, k: int, name: str) -> torch.Tensor:
    """What a game (or its function) returned for ``k`` coalitions → a float64 tensor of length k."""
    if not isinstance(raw, torch.Tensor):
        try:
            raw = torch.from_numpy(np.asarray(raw, dtype=np.float64))
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected {k} number(s), one per coalition, got {type(raw).__name__} "
                            f"{str(raw)[:60]}") from None
    values = raw.detach().to("cpu", torch.float64).reshape(-1)
    if values.shape != (k,):
        raise ValueError(f"{name}: returned {values.numel()} value(s) for {k} coalition(s)")
    return values


def evaluate(game, coalitions: torch.Tensor) -> torch.Tensor:
    """V of each coalition (K×n bool) → K finite float64 values; NaN/inf is an error (an estimate built on it
    would be silently meaningless, and NaN would read as "not measured")."""
    values = as_values(game(coalitions), len(coalitions), "game")
    bad = (~torch.isfinite(values)).nonzero().flatten()
    if len(bad):
        members = coalitions[bad[0]].nonzero().flatten().tolist()
        raise ValueError(f"game: V(S) is {float(values[bad[0]])} for {len(bad)} of {len(values)} coalitions, e.g. "
                         f"S = {members[:10]}{'…' if len(members) > 10 else ''}; Shapley values need finite values")
    return values


def coalition_masks(n_players: int) -> torch.Tensor:
    """All 2^n coalitions as a 2^n × n bool tensor; row s holds the bits of the integer s (player i = bit i)."""
    n = positive_int(n_players, "n_players")
    if n > 25:
        raise ValueError(f"n_players: {n} players have 2^{n} coalitions, {2 ** n * n / 1e9:.0f} GB as a bool "
                         "table; enumerate at most 25 players")
    ints = torch.arange(2 ** n)
    return ((ints[:, None] >> torch.arange(n)) & 1).bool()


def check_bounds(bounds, name: str = "value_bounds") -> tuple[float, float]:
    """A pair of finite numbers (lo, hi) with lo ≤ hi."""
    if isinstance(bounds, (str, bytes)) or not hasattr(bounds, "__len__") or len(bounds) != 2:
        raise TypeError(f"{name}: expected a pair (lo, hi) of numbers, got {type(bounds).__name__} {bounds!r}")
    lo, hi = (finite_number(b, name) for b in bounds)
    if lo > hi:
        raise ValueError(f"{name}: expected lo ≤ hi, got ({lo}, {hi})")
    return lo, hi


def marginal_range(game) -> float | None:
    """A guaranteed bound on the spread of the marginal contributions V(S ∪ {i}) − V(S) of ``game``.

    If lo ≤ V(S) ≤ hi for every S (the game's ``value_bounds``), every marginal contribution lies in
    [lo − hi, hi − lo], an interval of length 2 (hi − lo). None when the game states no bounds.
    """
    bounds = getattr(game, "value_bounds", None)
    return None if bounds is None else 2 * (bounds[1] - bounds[0])


# --------------------------------------------------------------------------------------- textbook games
class FunctionGame:
    """A game given by a Python function of one coalition (a bool tensor of length n) → a number.

    ``batched=True`` means ``fn`` already takes a K×n bool tensor and returns K values.
    ``value_bounds``: (lo, hi) with lo ≤ V(S) ≤ hi for every coalition, when known (``tmab_shapley``
    derives a guaranteed range of the marginal contributions from it); None when unknown.
    """

    def __init__(self, fn: Callable, n_players: int, batched: bool = False, name: str = "game",
                 value_bounds: tuple[float, float] | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"fn: expected a function, got {type(fn).__name__}")
        self.fn, self.n_players, self.batched, self.name = fn, positive_int(n_players, "n_players"), batched, name
        self.value_bounds = None if value_bounds is None else check_bounds(value_bounds, "value_bounds")
        self.n_evaluations = 0

    def __call__(self, coalitions) -> torch.Tensor:
        c = check_coalitions(coalitions, self.n_players)
        self.n_evaluations += len(c)
        return as_values(self.fn(c) if self.batched else [self.fn(row) for row in c], len(c), "fn")

    def __repr__(self) -> str:
        return f"FunctionGame({self.name}, n_players={self.n_players})"


def _weights(weights, name: str = "weights") -> torch.Tensor:
    """A non-empty 1-d sequence of finite numbers → float64 tensor."""
    try:
        w = torch.as_tensor(np.asarray(weights.detach().cpu() if isinstance(weights, torch.Tensor) else weights,
                                       dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a list of numbers, got {type(weights).__name__} {str(weights)[:40]}") from None
    if w.ndim != 1 or len(w) == 0:
        raise ValueError(f"{name}: expected a non-empty 1-d list of numbers (one per player), got shape {tuple(w.shape)}")
    return check_finite(w, name)


def additive_game(weights: Sequence[float]) -> FunctionGame:
    """V(S) = Σ_{i∈S} w_i. Its Shapley values are the weights themselves."""
    w = _weights(weights)
    return FunctionGame(lambda c: c.double() @ w, len(w), batched=True, name="additive",
                        value_bounds=(float(w.clamp(max=0).sum()), float(w.clamp(min=0).sum())))


def glove_game(left: int, right: int) -> FunctionGame:
    """Players 0..left−1 own a left glove, the next ``right`` a right glove; V(S) = number of pairs in S."""
    left, right = positive_int(left, "left", minimum=0), positive_int(right, "right", minimum=0)
    if left + right < 1:
        raise ValueError("left, right: expected at least one player, got 0 left and 0 right gloves")
    return FunctionGame(lambda c: torch.minimum(c[:, :left].sum(1), c[:, left:].sum(1)).double(),
                        left + right, batched=True, name=f"glove({left} left, {right} right)",
                        value_bounds=(0.0, float(min(left, right))))


def voting_game(weights: Sequence[float], quota: float) -> FunctionGame:
    """Weighted voting: V(S) = 1 if the weights in S add up to at least ``quota``, else 0."""
    w, quota = _weights(weights), finite_number(quota, "quota")
    return FunctionGame(lambda c: (c.double() @ w >= quota).double(), len(w), batched=True,
                        name=f"voting(quota {quota:g})", value_bounds=(0.0, 1.0))


# ------------------------------------------------------------------------------------- the layer game
class LayerGame:
    """The Neuron Shapley game on the channels of one layer.

    V(S) = ``metric`` of the model on (``inputs`` N×C×H×W, ``labels`` N) when every player channel outside S
    is replaced by ``removal``: ``"mean"`` (its mean over ``inputs``), ``"zero"``, or a tensor (C,) / C×H×W
    of replacement values (e.g. means over a larger held-out set). The activations of ``layer`` (a name or
    the module) are computed once; each coalition only runs the rest of the network (``tail``) on
    coalition × image rows, at most ``batch_size`` rows per pass (default: about 4 million activation
    values per pass).

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

    def __init__(self, model: nn.Module, layer, inputs: torch.Tensor | None, labels: torch.Tensor,
                 removal="mean", metric="accuracy", players: Sequence[int] | None = None, others: str = "keep",
                 tail: Callable | None = None, batch_size: int | None = None, activations: torch.Tensor | None = None,
                 show_progress: bool = False) -> None:
        self.layer, _ = resolve_layer(model, layer)
        if inputs is not None or activations is None:
            inputs = check_model_inputs(inputs, model)
        if activations is not None:
            if not isinstance(activations, torch.Tensor) or activations.ndim < 2 or not activations.is_floating_point():
                raise TypeError("activations: expected a floating tensor N×C(×H×W), the output of `layer`")
            if inputs is not None and len(inputs) != len(activations):
                raise ValueError(f"activations: {len(activations)} rows for {len(inputs)} inputs")
            check_finite(activations, "activations")
        n = len(inputs) if activations is None else len(activations)
        labels = class_indices(labels, "labels", n=n)
        self.batch_size = None if batch_size is None else positive_int(batch_size, "batch_size")
        if not (callable(metric) or metric in ("accuracy", "log_prob")):
            raise ValueError(f"metric: expected 'accuracy', 'log_prob' or a function, got {metric!r}")
        if tail is not None and not callable(tail):
            raise TypeError(f"tail: expected a callable mapping the activations of {self.layer!r} to logits, "
                            f"got {type(tail).__name__}")
        self.others = one_of(others, "others", ("keep", "remove"))
        if isinstance(removal, str) and removal not in ("mean", "zero"):
            raise ValueError(f"removal: expected 'mean', 'zero' or a tensor of replacement values, got {removal!r}")
        replacement = None if isinstance(removal, str) else check_replacement(removal, "removal")
        self.model, self.metric = model, metric
        self.tail = tail if tail is not None else _sequential_tail(model, self.layer)
        if activations is None:
            activations = layer_activations(model, self.layer, inputs, show_progress=show_progress)
            if not bool(torch.isfinite(activations).all()):
                raise ValueError(f"model: the output of {self.layer!r} holds NaN or inf for finite inputs; "
                                 "check the model's weights")
        self.activations = activations.detach().cpu()
        self.labels = labels.cpu()
        shape = self.activations.shape[1:]
        self.n_channels = shape[0]
        self.fill = (self.activations.mean(0) if isinstance(removal, str) and removal == "mean"
                     else fill_values(replacement, shape, "removal"))
        self.removal = removal if isinstance(removal, str) else "custom"
        self.players = indices(torch.arange(self.n_channels) if players is None else players, self.n_channels,
                               "players")
        if len(self.players) == 0:
            raise ValueError("players: expected at least one player channel")
        if len(set(self.players.tolist())) != len(self.players):
            raise ValueError("players: every channel may appear only once")
        self.n_players = len(self.players)
        self.n_evaluations = 0
        # accuracy lies in [0, 1]; a log-probability or a custom metric has no bound known in advance
        self.value_bounds = (0.0, 1.0) if metric == "accuracy" else None
        self._check_tail()

    def _check_tail(self) -> None:
        """Run the tail on one cached activation: fail now, clearly, rather than at the first coalition."""
        try:
            with self._tail_in_eval_mode(), torch.no_grad():
                out = self.tail(self.activations[:1].to(self.device))
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            raise ValueError(f"tail: cannot run on the output of {self.layer!r} (shape "
                             f"{tuple(self.activations.shape[1:])} per input): {error}") from error
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
            raise ValueError(f"tail: expected logits 1×classes for one activation, got "
                             f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
        if isinstance(self.metric, str):      # class indices for the built-in metrics
            class_indices(self.labels, "labels", n_classes=out.shape[1])

    # -- evaluation
    @property
    def device(self) -> torch.device:
        return model_device(self.model) or torch.device("cpu")

    @torch.no_grad()
    def __call__(self, coalitions) -> torch.Tensor:
        """K×n bool coalitions (or one of length n) → K values (float64)."""
        c = check_coalitions(coalitions, self.n_players)
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
                    x = torch.where(k, a, fill)                               # G×M×C(×H×W), a new tensor
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
        if not bool(torch.isfinite(logits).all()):
            raise ValueError(f"model: the layers after {self.layer!r} returned NaN or inf logits; check their weights")
        if self.metric == "accuracy":
            return (logits.argmax(-1) == self.labels).double().mean(1)
        if self.metric == "log_prob":
            logp = logits.double().log_softmax(-1)
            return logp.gather(2, self.labels.view(1, -1, 1).expand(len(logits), -1, 1)).squeeze(2).mean(1)
        out = as_values(self.metric(logits, self.labels), len(logits), "metric")
        if not bool(torch.isfinite(out).all()):
            raise ValueError(f"metric: returned NaN or inf ({out.tolist()[:5]}); a game's values must be finite")
        return out

    # -- conveniences
    def value_without(self, removed) -> float:
        """V(N ∖ removed): the value with the listed players removed (indices into the players)."""
        keep = torch.ones(self.n_players, dtype=torch.bool)
        keep[indices(removed, self.n_players, "removed", what="player")] = False
        return float(self(keep))

    def restrict(self, which) -> "LayerGame":
        """The same game (same cached activations, same replacement values) on a subset of the inputs.

        ``which``: a bool mask of length N or indices — e.g. ``game.restrict(game.labels == 3)`` for
        the class-specific game "accuracy on class 3".
        """
        idx = indices(which, len(self.labels), "which", what="input")
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
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"tail: {type(model).__name__} is not an nn.Sequential, so the rest of the network after "
                         f"{layer!r} cannot be found automatically; pass tail=a function of the activations")
    names = [n for n, _ in model.named_children()]
    if layer not in names:
        raise ValueError(f"layer: {layer!r} must be a top-level layer of the nn.Sequential ({names}), "
                         "or pass tail=a function of its activations")
    after = names[names.index(layer) + 1:]
    return nn.Sequential(OrderedDict((n, getattr(model, n)) for n in after))

