"""How sure is a comparison of explanation methods? Means over images with a spread, and paired tests.

* ``bootstrap_interval(values)`` – a percentile bootstrap interval of the mean over images (dim 0).
* ``compare_methods(scores, reference="random", higher_is_better=...)`` – for every method, its mean ±
  standard error over images and the paired bootstrap interval of (method − reference) image by image; the
  verdict is ``"better"`` / ``"worse"`` only when that interval excludes 0, else ``"no difference"``.
* ``sign_test(scores, reference)`` – for a handful of images (too few for a bootstrap): on how many images
  each method beats the reference, and the chance of doing at least that well by coin flips.
* ``format_scores(columns)`` – a text table of such comparisons, one column per measurement.

Scores are per image (N values for each method, the same N images in the same order for every method), so
the comparison is paired: the image-to-image spread, which is large, cancels in the difference.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..validation import check_bool, check_finite, integer, positive_int

VERDICTS = ("better", "worse", "no difference")


def _values(values, name: str) -> torch.Tensor:
    """values N (or N×M) as float64, finite, at least two rows."""
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor of per-image values (N or N×M), got {type(values).__name__}")
    if values.is_complex():
        raise TypeError(f"{name}: expected real numbers (or bools: hits), got {values.dtype}")
    if values.ndim not in (1, 2) or len(values) < 2:
        raise ValueError(f"{name}: expected at least 2 per-image values (shape N or N×M), got shape "
                         f"{tuple(values.shape)}")
    return check_finite(values.detach().double().cpu(), name)


def _confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a number in (0, 1), e.g. 0.95, got {confidence!r}")
    return float(confidence)


def bootstrap_interval(values: torch.Tensor, confidence: float = 0.95, n_resamples: int = 4000,
                       seed: int = 0) -> torch.Tensor:
    """Percentile bootstrap interval of the mean over dim 0: values N (or N×M) → (low, high) as 2 (or M×2).

    The N images are resampled with replacement ``n_resamples`` times (a fixed ``seed``: the same interval on
    every run); the interval holds the central ``confidence`` share of the resampled means (float64).
    """
    v = _values(values, "values")
    confidence = _confidence(confidence)
    n_resamples = positive_int(n_resamples, "n_resamples", minimum=100)
    gen = torch.Generator().manual_seed(integer(seed, "seed"))
    idx = torch.randint(0, len(v), (n_resamples, len(v)), generator=gen)
    means = v[idx].mean(1)                                            # R (×M)
    q = torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=torch.float64)
    return torch.quantile(means, q, dim=0).T.contiguous() if v.ndim == 2 else torch.quantile(means, q)


@dataclass(frozen=True)
class Comparison:
    """One method against the reference on the same n images: its mean and standard error, the mean of the
    per-image differences (method − reference) with its ``confidence`` bootstrap interval (low, high), and the
    verdict ("better", "worse" or "no difference")."""
    mean: float
    stderr: float
    difference: float
    low: float
    high: float
    verdict: str
    n: int
    confidence: float

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.stderr:.2f}"


def _check_scores(scores, reference, higher_is_better) -> None:
    """The arguments every comparison with a reference method shares, checked."""
    if not isinstance(scores, dict) or not scores:
        raise TypeError(f"scores: expected a non-empty dict {{method name: N per-image scores}}, got "
                        f"{type(scores).__name__}")
    if not isinstance(reference, str) or reference not in scores:
        raise ValueError(f"reference: expected one of the methods {list(scores)}, got {reference!r}")
    check_bool(higher_is_better, "higher_is_better")


def compare_methods(scores: dict, reference: str = "random", higher_is_better: bool = True,
                    confidence: float = 0.95, n_resamples: int = 4000, seed: int = 0) -> dict[str, Comparison]:
    """Every method against ``reference``, image by image: ``scores`` maps a name to N per-image scores.

    Returns ``{name: Comparison}`` (the reference included, with difference 0). A verdict is ``"better"`` if
    the ``confidence`` bootstrap interval of the mean difference lies entirely on the good side of 0 (above it
    when ``higher_is_better``), ``"worse"`` if entirely on the bad side, else ``"no difference"``: these N
    images cannot tell the two apart.
    """
    _check_scores(scores, reference, higher_is_better)
    values = {name: _values(v, f"scores[{name!r}]") for name, v in scores.items()}
    for name, v in values.items():
        if v.ndim != 1:
            raise ValueError(f"scores[{name!r}]: expected one value per image (shape N), got shape {tuple(v.shape)}")
    n = len(values[reference])
    wrong = [name for name, v in values.items() if len(v) != n]
    if wrong:
        raise ValueError(f"scores: every method needs the same {n} images as {reference!r}; {wrong} differ")
    names = list(values)
    diffs = torch.stack([values[m] - values[reference] for m in names], 1)      # N×M
    intervals = bootstrap_interval(diffs, confidence, n_resamples, seed)         # M×2
    out = {}
    for j, name in enumerate(names):
        v = values[name]
        low, high = intervals[j].tolist()
        good, bad = (low > 0, high < 0) if higher_is_better else (high < 0, low > 0)
        verdict = "better" if good and name != reference else "worse" if bad and name != reference else \
            "no difference"
        out[name] = Comparison(v.mean().item(), (v.std() / len(v) ** 0.5).item(), diffs[:, j].mean().item(),
                               low, high, verdict, len(v), confidence)
    return out


_MARKS = {"better": "+", "worse": "−", "no difference": " "}


def format_scores(columns: dict, title: str = "", reference: str = "random", digits: int = 2) -> str:
    """A text table: rows = methods, one column per measurement, each cell "mean ± standard error" and a mark:
    ``+`` better than ``reference`` (its bootstrap interval excludes 0), ``−`` worse, blank: no difference.

    ``columns`` maps a column header (e.g. ``"deletion AUC ↓"``) to the output of ``compare_methods``; a
    method missing from a column gets "—". Columns are wide enough for their headers (they never run together).
    """
    if not isinstance(columns, dict) or not columns or not all(isinstance(c, dict) for c in columns.values()):
        raise TypeError("columns: expected a non-empty dict {header: compare_methods(...)}")
    digits = positive_int(digits, "digits", minimum=0)
    methods = list(dict.fromkeys(m for c in columns.values() for m in c))
    cells = {h: {m: (f"{c[m].mean:.{digits}f} ± {c[m].stderr:.{digits}f} {_MARKS[c[m].verdict]}"
                     if m in c else "—") for m in methods} for h, c in columns.items()}
    name_width = max(len(m) for m in methods + [title]) + 2
    widths = {h: max(len(h), *(len(v) for v in cells[h].values())) + 3 for h in columns}
    lines = [title.ljust(name_width) + "".join(h.rjust(widths[h]) for h in columns)]
    for m in methods:
        lines.append(m.ljust(name_width) + "".join(cells[h][m].rjust(widths[h]) for h in columns))
    n = sorted({c[m].n for c in columns.values() for m in c})
    level = sorted({round(100 * c[m].confidence) for c in columns.values() for m in c})
    lines.append(f"(mean ± standard error over {'/'.join(map(str, n))} images; + / −: better / worse than "
                 f"{reference!r} image by image ({'/'.join(map(str, level))} % bootstrap interval of the "
                 f"difference); blank: no difference)")
    return "\n".join(lines)


def sign_test(scores: dict, reference: str = "random", higher_is_better: bool = True) -> dict[str, tuple[int, int, float]]:
    """For a handful of images: ``{name: (wins, n, p)}`` – on how many of the n images the method scores
    strictly better than ``reference``, and the one-sided sign-test p-value P(at least that many wins if each
    image were a fair coin flip) = Σ_{i ≥ wins} C(n, i) / 2ⁿ. With 4 images even 4 wins give p = 1/16."""
    from math import comb
    _check_scores(scores, reference, higher_is_better)
    ref = _values(scores[reference], f"scores[{reference!r}]")
    out = {}
    for name, v in scores.items():
        v = _values(v, f"scores[{name!r}]")
        if v.shape != ref.shape or v.ndim != 1:
            raise ValueError(f"scores[{name!r}]: expected {len(ref)} per-image values like {reference!r}, got shape "
                             f"{tuple(v.shape)}")
        wins = int(((v > ref) if higher_is_better else (v < ref)).sum())
        n = len(v)
        out[name] = (wins, n, sum(comb(n, i) for i in range(wins, n + 1)) / 2 ** n)
    return out
