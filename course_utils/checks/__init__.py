"""Exercise checks: run a student's function on fresh cases and answer in one short, specific message.

Each lecture has its own module (``course_utils.checks.probing``, ``course_utils.checks.occlusion``, ...)
whose ``check_xxx(your_function)`` functions are built from the pieces here:

* ``Case`` – one set of arguments the notebook never showed, a readable description, and optionally a
  ``note`` saying what is special about it (shown when the case fails without a recognised mistake).
* ``run_check(name, student, reference, cases, mistakes={message: wrong_reference}, ...)`` – calls the
  reference and the student on every case and stops at the first disagreement. ``mistakes`` is the one way
  a check declares the usual mistakes: each ``wrong_reference`` takes the case's arguments and returns what
  that mistake gives (``None``: not applicable). A mistake is named only on a case where its answer differs
  from the correct one, so a hint never describes a mistake the case cannot reveal.
* ``compare(expected, got)`` – the generic diagnosis (``None`` when they agree): ``None`` returned, wrong
  type, still attached to the graph, wrong dtype, wrong shape, NaN, sign, absolute value, scale, values.
* ``exercise_check`` – the decorator every public check wears: whatever the check and the student's function
  do, the caller's random generators (torch, NumPy, ``random``), grad mode and default dtype come back as
  they were, so running a check never changes what the notebook computes next.
* ``generator(seed)``, ``seeded(model, seed)`` – cases draw from their own generators, never the global one.

Besides comparing answers, ``run_check`` verifies that the student's function left its arguments alone:
a model's weights, buffers, ``training`` flags, ``requires_grad``, hooks and submodules, and every tensor's
values, ``requires_grad`` and ``.grad``. Errors are reported at the student's own line (not torch's), and a
case that takes more than ``SLOW_SECONDS`` gets a notice. Custom checks (properties rather than a
reference) use ``call_student``, ``passed``, ``failed`` and ``not_implemented`` for the same messages.

A check returns a ``CheckResult`` whose text is shown as the cell's output; ``bool(result)`` says
whether every case passed. A stub that raises ``NotImplementedError`` gets "not implemented yet".
"""
from __future__ import annotations

import functools
import inspect
import math
import os
import random
import sysconfig
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

SLOW_SECONDS = 1.0        # a case slower than this gets a notice
SLOW_HINT = ("vectorize: replace Python loops over pixels, windows or samples by tensor operations, and run "
             "the model once on a batch instead of once per input")
NONE_RETURNED = "your function returned None (a missing `return`?)"
ATTACHED = ("the result is still attached to the autograd graph: return a detached tensor "
            "(`result.detach()`, or compute it under `torch.no_grad()`)")


@dataclass
class Case:
    """Arguments for one call, and how to describe them in a message (e.g. ``"2 RGB images 8×8, target 3"``).

    ``note``: what this case adds to the earlier ones (e.g. "the first case with ties"), appended to a
    failure that no declared mistake explains."""
    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    note: str = ""


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


def passed(name: str, detail: str, notice: str = "") -> CheckResult:
    return CheckResult(name, "passed", f"✅ {name}: {detail}" + notice)


def failed(name: str, message: str, hint: str = "", notice: str = "") -> CheckResult:
    return CheckResult(name, "failed", f"❌ {name}: {message}" + (f"\n   Hint: {hint}" if hint else "") + notice)


def not_implemented(name: str) -> CheckResult:
    return CheckResult(name, "not implemented",
                       f"⏳ {name}: not implemented yet — replace the `raise NotImplementedError` line "
                       "with your code, run that cell, then run this check again.")


def not_a_function(name: str, obj: Any, what: str = "a function") -> CheckResult | None:
    """The failure for a check given something that cannot be called, else None."""
    return None if callable(obj) else failed(name, f"expected {what}, got {_describe(obj)}")


# ------------------------------------------------------------------------------------- caller's state
@contextmanager
def caller_state_kept() -> Iterator[None]:
    """Restore the global random generators (torch CPU and CUDA, NumPy, ``random``), grad mode and the
    default dtype on exit, whatever ran inside."""
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)


def exercise_check(check: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """Decorator for every public check: the caller's global state is left as it was (``caller_state_kept``)."""
    @functools.wraps(check)
    def wrapped(*args, **kwargs):
        with caller_state_kept():
            return check(*args, **kwargs)
    return wrapped


# ------------------------------------------------------------------------------------- building cases
def generator(seed: int) -> torch.Generator:
    """A CPU generator of its own (cases never draw from, or reseed, the global generator)."""
    return torch.Generator().manual_seed(seed)


def seeded(model: nn.Module, seed: int, std: float | None = None) -> nn.Module:
    """Re-draw every parameter of ``model`` from a generator seeded with ``seed``, in place; returns it.

    ``std=None``: PyTorch's default distribution for convolutions and linear layers, U(±1/√fan_in) for weight
    and bias (normalization layers keep their ones and zeros); ``std``: every parameter ~ N(0, std²)."""
    g = generator(seed)
    with torch.no_grad():
        if std is not None:
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
            return model
        for m in model.modules():
            weight = getattr(m, "weight", None)
            if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
                bound = 1 / math.sqrt(weight[0].numel())
                for p in (m.weight, m.bias):
                    if p is not None:
                        p.uniform_(-bound, bound, generator=g)
            elif isinstance(weight, nn.Parameter) and not isinstance(m, nn.modules.batchnorm._NormBase) \
                    and not isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
                weight.copy_(torch.randn(weight.shape, generator=g, dtype=weight.dtype))
    return model


# ------------------------------------------------------------------------------- calling the student
_LIBRARY_DIRS = tuple({os.path.dirname(torch.__file__), os.path.dirname(np.__file__),
                       os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))})

_ERROR_HINTS = [
    ("does not require grad and does not have a grad_fn",
     "the score does not depend on a tensor that requires grad: call `.requires_grad_(True)` on (a copy of) "
     "the input before the forward pass, and do not compute it under `torch.no_grad()`"),
    ("leaf Variable that requires grad is being used in an in-place operation",
     "you wrote into a tensor that requires grad: write into a copy made before `requires_grad_()`, "
     "or inside `with torch.no_grad():`"),
    ("backward through the graph a second time",
     "each backward pass needs its own forward pass (run the model again inside the loop)"),
    ("appears to not have been used in the graph",
     "the tensor you differentiate with respect to did not go into the model: differentiate with respect "
     "to the very tensor you passed to it"),
    ("Can't call numpy() on Tensor that requires grad", "call `.detach()` before `.numpy()`"),
    ("expected scalar type", "mixed dtypes: create new tensors with `dtype=x.dtype` (some cases are float64)"),
    ("must have the same dtype", "mixed dtypes: create new tensors with `dtype=x.dtype` (some cases are float64)"),
]


def _student_frame(tb) -> traceback.FrameSummary | None:
    """The last frame of the traceback in the student's own code (not in torch, NumPy, course_utils or
    installed packages): where a student can act on the error."""
    frames = traceback.extract_tb(tb)
    for frame in reversed(frames):
        if not os.path.abspath(frame.filename).startswith(_LIBRARY_DIRS):
            return frame
    return None


def describe_error(err: BaseException) -> str:
    """``"TypeError: message (line 5 of your code: `x = ...`)"``, plus a hint for well-known torch errors."""
    text = str(err).strip().split("\n")[0]
    text = text if len(text) <= 300 else text[:297] + "..."
    frame = _student_frame(err.__traceback__)
    where = ""
    if frame is not None:
        where = f" (line {frame.lineno} of your code" + (f": `{frame.line.strip()}`)" if frame.line else ")")
    hint = next((h for words, h in _ERROR_HINTS if words in str(err)), "")
    return f"{type(err).__name__}: {text}{where}" + (f" — {hint}" if hint else "")


class StudentError(Exception):
    """The student's function raised (``str(self)`` describes the error at the student's line)."""


def call_student(fn: Callable, *args, **kwargs) -> tuple[Any, float]:
    """``(result, seconds)`` of ``fn(*args, **kwargs)``. ``NotImplementedError`` passes through (the stub);
    any other exception becomes a ``StudentError`` describing it at the student's line."""
    start = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:  # the student's bug: say what and where, briefly
        raise StudentError(describe_error(err)) from err
    return result, time.perf_counter() - start


def slow_notice(seconds: float, where: str, reference_seconds: float | None = None, hint: str = SLOW_HINT,
                threshold: float = SLOW_SECONDS) -> str:
    """A line for a function that took longer than ``threshold`` seconds and (when the course's time is
    known) more than three times the course's version, which a slow machine slows down alike; else ""."""
    if seconds <= threshold or (reference_seconds is not None and seconds <= 3 * reference_seconds):
        return ""
    ref = f"; the course's version takes {reference_seconds:.2f} s" if reference_seconds is not None else ""
    return f"\n   ⏱ Note: your function took {seconds:.1f} s on {where}{ref}. To speed it up, {hint}."


# ------------------------------------------------------------------------------------------ comparing
def _describe(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)} ({x.dtype})"
    if isinstance(x, np.ndarray):
        return f"a NumPy array of shape {x.shape}"
    if isinstance(x, (list, tuple, dict)):
        return f"a {type(x).__name__} of length {len(x)}"
    return f"{type(x).__name__} {x!r}"[:120]


def _dtype_problem(expected: torch.Tensor, got: torch.Tensor) -> str | None:
    e, g = expected.dtype, got.dtype
    if e.is_floating_point:
        if g.is_complex:
            return (f"the result is complex ({g}): return real numbers of dtype {e} (e.g. `.abs()` of an FFT's "
                    "output, or `.real`)")
        if g == torch.bool:
            return f"the result holds booleans (torch.bool, from a comparison?): expected {e} numbers"
        if not g.is_floating_point:
            return (f"the result has the integer dtype {g}: expected {e} numbers (an integer tensor from "
                    "torch.tensor([...ints]), torch.arange or a rounding step?)")
        if g in (torch.float16, torch.bfloat16):
            cast = ".float()" if e == torch.float32 else ".double()" if e == torch.float64 else f".to({e})"
            return f"the result is {g}, which keeps too few digits: return {e} (`{cast}`)"
        if e == torch.float32 and g == torch.float64:
            return ("the result is float64: return float32 like the inputs (`.float()`; float64 usually comes "
                    "from NumPy or from torch.tensor(..., dtype=torch.float64))")
    elif e != torch.bool and not e.is_complex and (g.is_floating_point or g.is_complex):
        return f"expected integers ({e}), got {g} values"
    return None


def _as_array(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.real if t.is_complex() else t).double().numpy()


def _compare_arrays(e: np.ndarray, g: np.ndarray, atol: float, rtol: float) -> str | None:
    if e.shape != g.shape:
        hint = ""
        if g.ndim == e.ndim >= 2 and e.shape[1] == 1 and g.shape[:1] + g.shape[2:] == e.shape[:1] + e.shape[2:]:
            hint = " (reduce over the channel dimension, keeping it with keepdim=True)"
        elif tuple(d for d in g.shape if d != 1) == tuple(d for d in e.shape if d != 1):
            hint = (" (a dimension of size 1 is missing: keep it, e.g. keepdim=True or x[:, None])" if g.ndim < e.ndim
                    else " (an extra dimension of size 1: remove it, e.g. .squeeze(dim) or without keepdim=True)")
        elif g.size == e.size:
            hint = " (same number of elements: a missing reshape/unsqueeze or a transposed result?)"
        return f"expected shape {e.shape}, got {g.shape}{hint}"
    new_nan = np.isnan(g) & ~np.isnan(e)
    if new_nan.any():
        return f"the result has {int(new_nan.sum())} NaN values (a division by zero?)"
    new_inf = np.isinf(g) & ~np.isinf(e)
    if new_inf.any():
        return f"the result has {int(new_inf.sum())} infinite values (a division by a number close to 0?)"
    if np.allclose(g, e, atol=atol, rtol=rtol, equal_nan=True):
        return None
    if np.isnan(e).any() or np.isnan(g).any():
        return "the result differs (NaN where the expected value is a number, or the other way round)"
    if np.allclose(g, -e, atol=atol, rtol=rtol):
        return "the result has the wrong sign everywhere"
    if np.allclose(np.abs(g), e, atol=atol, rtol=rtol):
        return "the signs differ: did you forget the absolute value?"
    if np.allclose(g, np.abs(e), atol=atol, rtol=rtol) and not np.allclose(e, np.abs(e)):
        return "you took an absolute value where the signed result is expected"
    scale = float((g * e).sum() / max((e * e).sum(), 1e-30))
    if abs(scale) > 1e-8 and abs(scale - 1) > 1e-3 and np.allclose(g, scale * e, atol=atol, rtol=rtol * 10):
        return f"the result is {scale:.4g} times the expected one (a missing or extra normalization?)"
    diff = np.abs(g - e)
    idx = np.unravel_index(diff.argmax(), diff.shape)
    where = f"at index {tuple(int(i) for i in idx)}" if diff.ndim else ""
    return (f"{int((~np.isclose(g, e, atol=atol, rtol=rtol)).sum())} of {e.size} values differ; the largest "
            f"difference is {where}: expected {e[idx]:.6g}, got {g[idx]:.6g}").replace("is : ", "is: ")


def _compare(expected: Any, got: Any, atol: float, rtol: float, strict: bool) -> tuple[str, str] | None:
    """None, or (path, problem) with path like ``[0][2]`` for nested lists, tuples and dicts."""
    if got is None and expected is not None:
        return "", NONE_RETURNED
    if isinstance(expected, torch.Tensor):
        if isinstance(got, np.ndarray):
            return "", "expected a torch.Tensor, got a NumPy array: stay in torch (or use torch.from_numpy)"
        if not isinstance(got, torch.Tensor):
            return "", f"expected a torch.Tensor, got {_describe(got)}"
        if strict and got.requires_grad and not expected.requires_grad:
            return "", ATTACHED
        problem = _dtype_problem(expected, got) if strict else None
        if problem is None:
            if got.is_complex() and not expected.is_complex():
                return "", f"the result is complex ({got.dtype})"
            problem = _compare_arrays(_as_array(expected), _as_array(got), atol, rtol)
        return None if problem is None else ("", problem)
    if isinstance(expected, np.ndarray):
        if not isinstance(got, (np.ndarray, torch.Tensor)):
            return "", f"expected a NumPy array, got {_describe(got)}"
        g = _as_array(got) if isinstance(got, torch.Tensor) else np.asarray(got, dtype=float)
        problem = _compare_arrays(expected.astype(float), g, atol, rtol)
        return None if problem is None else ("", problem)
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return "", f"expected a dict, got {_describe(got)}"
        if set(got) != set(expected):
            return "", f"expected the keys {sorted(expected, key=str)}, got {sorted(got, key=str)}"
        for key in expected:
            found = _compare(expected[key], got[key], atol, rtol, strict)
            if found:
                return f"[{key!r}]" + found[0], found[1]
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return "", f"expected a {type(expected).__name__} of length {len(expected)}, got {_describe(got)}"
        for i, (a, b) in enumerate(zip(expected, got)):
            found = _compare(a, b, atol, rtol, strict)
            if found:
                return f"[{i}]" + found[0], found[1]
        return None
    if isinstance(expected, (float, int)) and not isinstance(expected, bool):
        if isinstance(got, (torch.Tensor, np.ndarray)):
            if (got.size if isinstance(got, np.ndarray) else got.numel()) != 1:
                return "", f"expected a single number, got {_describe(got)}"
            if strict and isinstance(got, torch.Tensor) and got.requires_grad:
                return "", ATTACHED
            got = got.item()
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating)):
            return "", f"expected a number, got {_describe(got)}"
        if isinstance(expected, int):
            return None if float(got) == expected else ("", f"expected {expected}, got {got!r}")
        if math.isnan(float(got)) and not math.isnan(expected):
            return "", "got NaN (a division by zero?)"
        ok = np.isclose(float(got), expected, atol=atol, rtol=rtol, equal_nan=True)
        return None if ok else ("", f"expected {expected:.6g}, got {float(got):.6g}")
    return None if got == expected else ("", f"expected {expected!r}, got {got!r}")


def compare_pair(expected: tuple, got: Any, names: tuple[str, str],
                 tolerances: tuple[tuple[float, float], tuple[float, float]]) -> str | None:
    """``compare`` for an answer that is a pair (e.g. coefficients and intercept): the first problem, named."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return (f"expected a pair ({names[0]}, {names[1]}), got "
                f"{type(got).__name__ if not isinstance(got, (tuple, list)) else f'{len(got)} items'}")
    for name, e, g, (atol, rtol) in zip(names, expected, got, tolerances):
        problem = compare(e, g, atol=atol, rtol=rtol)
        if problem:
            return f"{name}: {problem}"
    return None


def compare(expected: Any, got: Any, atol: float = 1e-5, rtol: float = 1e-4, strict: bool = True) -> str | None:
    """``None`` when ``got`` matches ``expected``; otherwise what is wrong, diagnosing common mistakes.

    Tensors: type, still attached to the graph, dtype (a float32 answer must be float32; float64, float16,
    complex, integer and bool answers are named), shape, NaN/inf, sign or absolute value forgotten, off by
    a constant factor, then the largest difference. Lists, tuples and dicts item by item; numbers with
    tolerance. ``strict=False`` compares values only (no dtype or graph rule): how a mistake is matched.
    """
    found = _compare(expected, got, atol, rtol, strict)
    if found is None:
        return None
    path, problem = found
    return f"item {path}: {problem}" if path else problem


def agree(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Same values (NaN equal to NaN), whatever the dtypes and autograd graphs."""
    return _compare(a, b, atol, rtol, strict=False) is None


def _tensors_in(x: Any) -> Iterator[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors_in(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors_in(v)


def _gate(expected: Any, got: Any) -> str | None:
    """Problems reported before any mistake is tried: nothing returned, or an answer still in the graph."""
    if got is None and expected is not None:
        return NONE_RETURNED
    if any(t.requires_grad for t in _tensors_in(got)) and not any(t.requires_grad for t in _tensors_in(expected)):
        return ATTACHED
    return None


# ------------------------------------------------------------------------- the caller's arguments
def _hook_counts(m: nn.Module) -> dict[str, int]:
    return {"forward hook": len(m._forward_hooks), "forward pre-hook": len(m._forward_pre_hooks),
            "backward hook": len(m._backward_hooks), "backward pre-hook": len(m._backward_pre_hooks)}


def _global_hooks() -> dict[str, int]:
    from torch.nn.modules import module as M
    return {"global forward hook": len(M._global_forward_hooks),
            "global forward pre-hook": len(M._global_forward_pre_hooks),
            "global backward hook": len(M._global_backward_hooks),
            "global backward pre-hook": len(M._global_backward_pre_hooks)}


def _argument_names(fn: Callable, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        named = []
        for name, value in bound.arguments.items():
            kind = inspect.signature(fn).parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                named += [(f"{name}[{i}]", v) for i, v in enumerate(value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                named += list(value.items())
            else:
                named.append((name, value))
        return named
    except (TypeError, ValueError):
        return [(f"argument {i + 1}", a) for i, a in enumerate(args)] + list(kwargs.items())


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (a.isnan() & b.isnan())).all())
    return torch.equal(a, b)


def snapshot(named: list[tuple[str, Any]]) -> list:
    """What ``state_problem`` compares after the student's call: every module's and tensor's state among the
    (nested) arguments, plus the global module hooks."""
    items: list = [("globals", None, _global_hooks()), ("modes", None, torch.is_grad_enabled(), torch.get_default_dtype())]

    def visit(name: str, x: Any, depth: int = 0) -> None:
        if isinstance(x, nn.Module):
            items.append(("module", name, x, {
                "modules": [(n, m) for n, m in x.named_modules()],
                "state": {k: v.detach().clone() for k, v in x.state_dict(keep_vars=True).items()},
                "params": {k for k, _ in x.named_parameters()},
                "training": {n: m.training for n, m in x.named_modules()},
                "requires_grad": {n: p.requires_grad for n, p in x.named_parameters()},
                "hooks": {n: _hook_counts(m) for n, m in x.named_modules()}}))
        elif isinstance(x, torch.Tensor):
            items.append(("tensor", name, x, x.detach().clone(), x.requires_grad,
                          None if x.grad is None else x.grad.clone()))
        elif isinstance(x, dict) and depth < 3:
            for k, v in x.items():
                visit(f"{name}[{k!r}]", v, depth + 1)
        elif isinstance(x, list) and depth < 3:
            items.append(("list", name, x, list(x)))
            for i, v in enumerate(x):
                visit(f"{name}[{i}]", v, depth + 1)
        elif isinstance(x, tuple) and depth < 3:
            for i, v in enumerate(x):
                visit(f"{name}[{i}]", v, depth + 1)

    for name, value in named:
        visit(name, value)
    return items


def _module_problem(name: str, model: nn.Module, before: dict) -> str | None:
    now = dict(model.named_modules())
    for n, m in before["modules"]:
        if now.get(n) is not m:
            return (f"submodule {n!r} of `{name}` was replaced and not restored: put the original modules back "
                    "(in a `finally:` block) before returning")
    if len(now) != len(before["modules"]):
        return f"`{name}` has new submodules: restore its structure before returning"
    for n, m in now.items():
        counts, old = _hook_counts(m), before["hooks"].get(n, {})
        for kind, count in counts.items():
            if count > old.get(kind, 0):
                where = f" on {n!r}" if n else ""
                return (f"{count - old.get(kind, 0)} {kind}(s){where} of `{name}` are still registered after your "
                        "function returned: keep the handle that register_…_hook returns and call handle.remove() "
                        "in a `finally:` block (or use a `with` block such as capture_activations)")
            if count < old.get(kind, 0):
                return f"your function removed {kind}s that were already registered on `{name}`: remove only your own"
    for n, flag in before["training"].items():
        if now[n].training != flag:
            mode = "training" if now[n].training else "eval"
            return (f"your function left `{name}` in {mode} mode (it was in {'training' if flag else 'eval'} "
                    "mode): restore its `training` flag before returning (`with preserved_state(model):` does it)")
    for n, p in model.named_parameters():
        if n in before["requires_grad"] and p.requires_grad != before["requires_grad"][n]:
            return (f"your function changed requires_grad of the parameter {n!r} of `{name}`: restore it "
                    "(`with preserved_state(model):` does it), or never change it: torch.autograd.grad(score, x) "
                    "needs no parameter gradients")
    state = model.state_dict(keep_vars=True)
    for k, old in before["state"].items():
        if k not in state or not _same_tensor(state[k].detach(), old):
            if k in before["params"]:
                return (f"your function changed the weights of `{name}` (parameter {k!r}): a function that "
                        "explains or probes a model must leave it as it was — work on copies of the inputs instead")
            return (f"the buffer {k!r} of `{name}` changed: the model ran in training mode, so BatchNorm updated "
                    "its running statistics — evaluate in eval mode (`with preserved_state(model):`) and restore "
                    "the flag afterwards")
    return None


def state_problem(items: list) -> str | None:
    """What the student's function changed in its arguments (or the global hooks), or None."""
    for item in items:
        kind = item[0]
        if kind == "globals":
            for what, count in _global_hooks().items():
                if count != item[2][what]:
                    return (f"your function left a {what} registered (torch.nn.modules.module.register_module_…): "
                            "remove it before returning")
        elif kind == "modes":
            grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
            torch.set_grad_enabled(item[2])          # put them back at once: later cases need them
            torch.set_default_dtype(item[3])
            if grad != item[2]:
                return ("your function switched gradient tracking off for the whole notebook "
                        "(torch.set_grad_enabled(False)): use a `with torch.no_grad():` block instead")
            if dtype != item[3]:
                return (f"your function changed the default dtype to {dtype} (torch.set_default_dtype): leave it "
                        "alone, and give new tensors the inputs' dtype instead (dtype=x.dtype)")
        elif kind == "module":
            problem = _module_problem(item[1], item[2], item[3])
            if problem:
                return problem
        elif kind == "tensor":
            _, name, t, values, requires_grad, grad = item
            if t.requires_grad != requires_grad:
                return (f"your function changed `{name}.requires_grad`: leave the caller's tensor alone and work on "
                        f"a copy, `x = {name.split('[')[0]}.detach().clone().requires_grad_(True)`")
            if (t.grad is None) != (grad is None) or (grad is not None and not _same_tensor(t.grad, grad)):
                return (f"your function changed `{name}.grad`: differentiate a copy of it "
                        f"(`{name}.detach().clone().requires_grad_(True)`), or use torch.autograd.grad")
            if not _same_tensor(t.detach(), values):
                return (f"your function modified `{name}` in place (e.g. `{name}[...] = …` or `{name} -= …`): leave "
                        f"the caller's tensor alone and work on a copy (`{name}.clone()`)")
        elif kind == "list":
            _, name, lst, copy_ = item
            if len(lst) != len(copy_) or any(a is not b for a, b in zip(lst, copy_)):
                return f"your function modified the list `{name}` in place: leave the caller's arguments alone"
    return None


def _objects(x: Any, depth: int = 0) -> Iterator[tuple[str, int]]:
    if isinstance(x, nn.Module):
        yield "module", id(x)
    elif isinstance(x, torch.Tensor):
        if x.numel():
            yield "tensor", x.untyped_storage().data_ptr()
    elif isinstance(x, (list, tuple)) and depth < 3:
        for v in x:
            yield from _objects(v, depth + 1)
    elif isinstance(x, dict) and depth < 3:
        for v in x.values():
            yield from _objects(v, depth + 1)


# ------------------------------------------------------------------------------------------ run_check
# {message: wrong_reference(*case.args, **case.kwargs) -> what that mistake gives (None: not applicable here),
#  or a tuple of wrong references for one message (variants of the same mistake)}
Mistakes = dict


def _recognised(mistakes: Mistakes, case: Case, expected: Any, got: Any,
                match: Callable[[Any, Any], bool]) -> list[str]:
    """Messages of the mistakes that reproduce ``got`` on this case, among those whose answer differs from
    ``expected`` here (a mistake that gives the right answer on a case cannot be diagnosed by it)."""
    found = []
    for message, wrongs in mistakes.items():
        for wrong in (wrongs if isinstance(wrongs, (tuple, list)) else (wrongs,)):
            try:
                alt = wrong(*case.args, **case.kwargs)
            except Exception:  # a mistake that does not apply to this case
                continue
            if alt is not None and not match(alt, expected) and match(alt, got):
                found.append(message)
                break
    return found


def run_check(name: str, student: Callable, reference: Callable, cases: list[Case],
              hint: str = "", atol: float = 1e-5, rtol: float = 1e-4,
              compare_fn: Callable[[Any, Any], str | None] | None = None,
              mistakes: Mistakes | None = None,
              match: Callable[[Any, Any], bool] | None = None,
              slow_hint: str = SLOW_HINT) -> CheckResult:
    """Run ``reference`` and ``student`` on every case; stop at the first disagreement.

    Per case: the student's error (at the student's line), or a change the student's function made to its
    arguments (``state_problem``), or an answer that is ``None`` or still attached to the graph; then, if
    the answer is wrong, the first declared mistake it reproduces (``mistakes``, compared with ``match``,
    default: ``agree``), else ``compare_fn(expected, got)`` (default ``compare``) and the case's note.
    """
    failure = not_a_function(name, student)
    if failure is not None:
        return failure
    cmp = compare_fn or (lambda e, g: compare(e, g, atol=atol, rtol=rtol))
    same = match or (lambda a, b: agree(a, b, atol=atol, rtol=rtol))
    seen: dict[tuple[str, int], int] = {}
    slowest = (0.0, 0, 0.0)
    for i, case in enumerate(cases, 1):
        for obj in _objects((case.args, case.kwargs)):
            if seen.setdefault(obj, i) != i:   # a check's own bug: the student could change a later case
                raise RuntimeError(f"{name}: cases {seen[obj]} and {i} share a {obj[0]}; build every case afresh")
        start = time.perf_counter()
        expected = reference(*case.args, **case.kwargs)
        ref_seconds = time.perf_counter() - start
        before = snapshot(_argument_names(student, case.args, case.kwargs))
        try:
            got, seconds = call_student(student, *case.args, **case.kwargs)
        except NotImplementedError:
            return not_implemented(name)
        except StudentError as err:
            return failed(name, f"case {i}/{len(cases)} ({case.description}) raised {err}", hint)
        if slow_notice(seconds, "", ref_seconds):    # a one-off stall (a first call, a busy machine) is not slowness
            seconds = min(seconds, _time_again(student, case))
        if seconds > slowest[0]:
            slowest = (seconds, i, ref_seconds)
        notice = slow_notice(slowest[0], f"case {slowest[1]}", slowest[2], slow_hint)
        problem = state_problem(before)
        if problem is None:
            problem = cmp(expected, got)
            if problem is not None:
                problem = _gate(expected, got) or _explain(mistakes or {}, cases[i - 1:], reference, student,
                                                           expected, got, same, problem)
        if problem:
            return failed(name, f"case {i}/{len(cases)} ({case.description}): {problem}", hint, notice)
    return passed(name, f"passed {len(cases)}/{len(cases)} cases",
                  slow_notice(slowest[0], f"case {slowest[1]}", slowest[2], slow_hint))


def _time_again(student: Callable, case: Case) -> float:
    """Seconds of a second call of ``student`` on ``case`` (inf if it raises this time)."""
    try:
        return call_student(student, *case.args, **case.kwargs)[1]
    except Exception:
        return math.inf


def _explain(mistakes: Mistakes, cases: list[Case], reference: Callable, student: Callable, expected: Any,
             got: Any, same: Callable, problem: str) -> str:
    """The message for a wrong answer on ``cases[0]``: the one declared mistake it reproduces; when several
    give this same answer here, the later cases decide between them (the student's function runs on them
    too); with none, the generic ``problem`` and the case's note."""
    case = cases[0]
    found = _recognised(mistakes, case, expected, got, same)
    for later in cases[1:]:
        if len(found) < 2:
            break
        later_expected = reference(*later.args, **later.kwargs)
        try:
            later_got = student(*later.args, **later.kwargs)
        except Exception:
            break
        narrowed = _recognised({m: mistakes[m] for m in found}, later, later_expected, later_got, same)
        if len(narrowed) == 1 or (narrowed and len(narrowed) < len(found)):
            found = narrowed
        elif not narrowed and not same(later_expected, later_got):
            found = []      # wrong there too, and none of them: the mistake is another one
    if len(found) == 1:
        return found[0]
    if found:   # the cases cannot tell these mistakes apart: say all of them rather than guess
        return "this answer fits more than one usual mistake: " + "; or ".join(found)
    return f"{problem} — {case.note}" if case.note else problem


def recording(reference: Callable) -> Callable:
    """``reference`` that also keeps the arguments of its latest call in ``.args`` (``run_check`` calls the
    reference before the student's function, so a ``compare_fn`` sees the current case there)."""
    def wrapped(*args, **kwargs):
        wrapped.args, wrapped.kwargs = args, kwargs
        return reference(*args, **kwargs)
    wrapped.args, wrapped.kwargs = (), {}
    return wrapped
