"""Exercise checks: run a student's function on fresh cases and answer in one short, specific message.

Each lecture has its own module (``course_utils.checks.weights``, ``course_utils.checks.occlusion``, ...)
whose ``check_xxx(your_function)`` functions are built from the pieces here:

* ``Case`` – one set of arguments the notebook never showed, with a readable description.
* ``run_check(name, student, reference, cases, ...)`` – calls both on every case and compares.
* ``compare(expected, got)`` – a diagnosis of the usual mistakes, or ``None`` when they agree.
* ``recording(reference)`` – the reference, keeping the arguments of the case being checked in ``.args``
  (for diagnoses that recompute a mistake from them).

A check returns a ``CheckResult`` whose text is shown as the cell's output; ``bool(result)`` says
whether every case passed. A stub that raises ``NotImplementedError`` gets "not implemented yet".
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch


@dataclass
class Case:
    """Arguments for one call, and how to describe them in a message (e.g. ``"2 RGB images 8×8, target 3"``)."""
    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class CheckResult:
    """Outcome of a check: ``status`` is ``"passed"``, ``"failed"`` or ``"not implemented"``."""
    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape}"
    return f"{type(x).__name__} {x!r}" if not isinstance(x, (list, tuple, dict)) else type(x).__name__


def compare(expected: Any, got: Any, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """``None`` when ``got`` matches ``expected``; otherwise what is wrong, diagnosing common mistakes.

    Tensors/arrays: type, shape, NaN, still attached to the graph, sign or absolute value forgotten,
    off by a constant factor, then the largest difference. Other values: equality (floats with tolerance).
    """
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor, got {_describe(got)}"
        if got.requires_grad and not expected.requires_grad:
            return "the result is still attached to the autograd graph: return `result.detach()`"
        e, g = expected.detach().double().cpu().numpy(), got.detach().double().cpu().numpy()
    elif isinstance(expected, np.ndarray):
        if not isinstance(got, (np.ndarray, torch.Tensor)):
            return f"expected a NumPy array, got {_describe(got)}"
        e = expected.astype(float)
        g = (got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got).astype(float)
    elif isinstance(expected, (list, tuple)) and not isinstance(expected, str):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return f"expected a {type(expected).__name__} of length {len(expected)}, got {_describe(got)}"
        for i, (a, b) in enumerate(zip(expected, got)):
            problem = compare(a, b, atol, rtol)
            if problem:
                return f"item {i}: {problem}"
        return None
    elif isinstance(expected, float):
        try:
            ok = np.isclose(float(got), expected, atol=atol, rtol=rtol)
        except (TypeError, ValueError):
            return f"expected a number, got {_describe(got)}"
        return None if ok else f"expected {expected:.6g}, got {float(got):.6g}"
    else:
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    if e.shape != g.shape:
        hint = ""
        if g.ndim == e.ndim >= 2 and e.shape[1] == 1 and g.shape[:1] + g.shape[2:] == e.shape[:1] + e.shape[2:]:
            hint = " (reduce over the channel dimension, keeping it with keepdim=True)"
        elif g.size == e.size:
            hint = " (same number of elements: a missing reshape/unsqueeze or a transposed result?)"
        return f"expected shape {e.shape}, got {g.shape}{hint}"
    if np.isnan(g).any() and not np.isnan(e).any():
        return f"the result has {int(np.isnan(g).sum())} NaN values (a division by zero?)"
    if np.allclose(g, e, atol=atol, rtol=rtol):
        return None
    if np.allclose(g, -e, atol=atol, rtol=rtol):
        return "the result has the wrong sign everywhere"
    if np.allclose(np.abs(g), e, atol=atol, rtol=rtol):
        return "the signs differ: did you forget the absolute value?"
    if np.allclose(g, np.abs(e), atol=atol, rtol=rtol) and not np.allclose(e, np.abs(e)):
        return "you took an absolute value where the signed result is expected"
    scale = float((g * e).sum() / max((e * e).sum(), 1e-30))
    if abs(scale) > 1e-8 and np.allclose(g, scale * e, atol=atol, rtol=rtol * 10):
        return f"the result is {scale:.4g} times the expected one (a missing or extra normalization?)"
    diff = np.abs(g - e)
    idx = np.unravel_index(diff.argmax(), diff.shape)
    return (f"{int((~np.isclose(g, e, atol=atol, rtol=rtol)).sum())} of {e.size} values differ; the largest "
            f"difference is at index {tuple(int(i) for i in idx)}: expected {e[idx]:.6g}, got {g[idx]:.6g}")


def recording(reference: Callable) -> Callable:
    """``reference`` that also keeps the arguments of its latest call in ``.args`` (``run_check`` calls the
    reference before the student's function, so a ``compare_fn`` sees the current case there)."""
    def wrapped(*args):
        wrapped.args = args
        return reference(*args)
    wrapped.args = ()
    return wrapped


def run_check(name: str, student: Callable, reference: Callable, cases: list[Case],
              hint: str = "", atol: float = 1e-5, rtol: float = 1e-4,
              compare_fn: Callable[[Any, Any], str | None] | None = None) -> CheckResult:
    """Run ``student`` and ``reference`` on every case; stop at the first disagreement.

    ``compare_fn(expected, got)`` overrides the default comparison (return ``None`` when they agree).
    """
    if not callable(student):
        return CheckResult(name, "failed", f"❌ {name}: expected a function, got {_describe(student)}")
    cmp = compare_fn or (lambda e, g: compare(e, g, atol=atol, rtol=rtol))
    for i, case in enumerate(cases, 1):
        expected = reference(*case.args, **case.kwargs)
        try:
            got = student(*case.args, **case.kwargs)
        except NotImplementedError:
            return CheckResult(name, "not implemented",
                               f"⏳ {name}: not implemented yet — replace the `raise NotImplementedError` line "
                               "with your code, run that cell, then run this check again.")
        except Exception as err:  # the student's bug: show where, briefly
            where = traceback.extract_tb(err.__traceback__)[-1]
            return CheckResult(name, "failed",
                               f"❌ {name}: case {i}/{len(cases)} ({case.description}) raised "
                               f"{type(err).__name__}: {err} (line {where.lineno}: `{where.line}`)"
                               + (f"\n   Hint: {hint}" if hint else ""))
        problem = cmp(expected, got)
        if problem:
            return CheckResult(name, "failed", f"❌ {name}: case {i}/{len(cases)} ({case.description}): {problem}"
                               + (f"\n   Hint: {hint}" if hint else ""))
    return CheckResult(name, "passed", f"✅ {name}: passed {len(cases)}/{len(cases)} cases")
