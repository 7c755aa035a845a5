"""Figures for concept-based explanations; every function returns the matplotlib Axes it drew on.

* ``plot_tcav(results)`` – TCAV scores (mean ± std over runs) beside the random-vs-random scores, each
  pair marked with its p-value, significant or not.
* ``plot_runs(result)`` – every run's score, concept and random side by side: one run is an anecdote.
* ``plot_iou(dissection, class_names)`` – each unit's best IoU, coloured by its class.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..validation import positive_float, positive_int
from .dissection import Dissection
from .stats import TCAVResult

__all__ = ["plot_iou", "plot_runs", "plot_tcav"]


def _results(results) -> list[TCAVResult]:
    results = [results] if isinstance(results, TCAVResult) else list(results)
    if not results or not all(isinstance(r, TCAVResult) for r in results):
        raise TypeError("results: expected a TCAVResult or a non-empty list of them (from tcav_test)")
    return results


def plot_tcav(results, ax=None, labels: Sequence[str] | None = None, alpha: float = 0.05, n_tests: int = 1,
              title: str = "TCAV scores (mean ± std over runs)"):
    """Bars of each result's concept scores and random-vs-random scores; "p = …" above each pair, in bold
    when significant at ``alpha`` / ``n_tests`` (Bonferroni). ``labels``: one per result (default: concept,
    class and layer)."""
    import matplotlib.pyplot as plt
    results = _results(results)
    alpha, n_tests = positive_float(alpha, "alpha"), positive_int(n_tests, "n_tests")
    if labels is None:
        labels = [f"{r.concept}\n→ {r.target}\n{r.layer}" for r in results]
    if len(labels) != len(results):
        raise ValueError(f"labels: expected {len(results)} labels (one per result), got {len(labels)}")
    ax = ax or plt.subplots(figsize=(max(4, 1.2 * len(results)), 3))[1]
    pos = np.arange(len(results))
    for offset, get, colour, label in ((-0.2, lambda r: r.scores, "tab:blue", "concept"),
                                       (0.2, lambda r: r.random_scores, "0.7", "random")):
        mean = np.array([float(get(r).mean()) for r in results])
        std = np.array([float(get(r).std()) for r in results])
        # ± std, cut at the ends of the scale: a score lies in [0, 1]
        err = np.stack([mean - np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1) - mean])
        ax.bar(pos + offset, mean, 0.4, yerr=err, capsize=2, color=colour, label=label)
    for i, r in enumerate(results):
        sig = r.significant(alpha, n_tests)
        ax.text(i, 1.04, f"p={r.p_value:.1g}" + ("" if sig else "\nn.s."), ha="center", va="bottom", fontsize=6,
                fontweight="bold" if sig else "normal")
    ax.set_xticks(pos, labels, fontsize=7)
    ax.set(ylim=(0, 1.3), yticks=[0, 0.25, 0.5, 0.75, 1], ylabel="TCAV score", title=title)
    ax.axhline(0.5, color="0.5", lw=0.5, ls=":")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return ax


def plot_runs(result: TCAVResult, ax=None, title: str | None = None):
    """Every run's TCAV score (concept: one dot per random set) beside the random-vs-random scores."""
    import matplotlib.pyplot as plt
    result = _results(result)[0]
    ax = ax or plt.subplots(figsize=(3.2, 3))[1]
    for x, scores, colour in ((0, result.scores, "tab:blue"), (1, result.random_scores, "0.5")):
        s = scores.numpy()
        jitter = np.linspace(-0.15, 0.15, len(s))
        ax.scatter(x + jitter, s, s=12, color=colour)
        ax.hlines(s.mean(), x - 0.25, x + 0.25, color="k", lw=1)
    ax.set_xticks([0, 1], [result.concept, "random"])
    ax.set(xlim=(-0.5, 1.5), ylim=(-0.05, 1.05), ylabel="TCAV score",
           title=title or f"{result.target} at {result.layer}: p = {result.p_value:.2g}")
    return ax


def plot_iou(dissection: Dissection, class_names: Sequence[str], ax=None, top: int | None = None,
             title: str | None = None):
    """Each unit's best IoU, sorted, coloured by the class it detects best (``top``: the largest only)."""
    import matplotlib.pyplot as plt
    if not isinstance(dissection, Dissection):
        raise TypeError(f"dissection: expected the Dissection of dissect(), got {type(dissection).__name__}")
    n_classes = dissection.iou.shape[1]
    if len(class_names) != n_classes:
        raise ValueError(f"class_names: expected {n_classes} names, got {len(class_names)}")
    classes, values = dissection.best()
    order = values.argsort(descending=True)
    if top is not None:
        order = order[:positive_int(top, "top")]
    ax = ax or plt.subplots(figsize=(8, 2.8))[1]
    cmap = plt.get_cmap("tab10")
    ax.bar(np.arange(len(order)), values[order].numpy(), color=[cmap(int(classes[k]) % 10) for k in order])
    for c in sorted(set(classes[order].tolist())):
        ax.bar([0], [0], color=cmap(c % 10), label=class_names[c])
    ax.set(xlabel=f"units of {dissection.layer}, sorted by best IoU", ylabel="IoU with best class",
           title=title or f"Unit dissection of {dissection.layer}")
    ax.legend(fontsize=6, ncol=5, loc="upper right")
    return ax
