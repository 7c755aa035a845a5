"""Checks for the exercises of lecture 05: the three ReLU backward rules as autograd Functions, guided
backprop by swapping the ReLU modules, and the rank correlation used by the sanity checks.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from ..attribution import RELU_BACKWARD_RULES, modified_gradient
from ..evaluation import rank_correlation
from . import (Case, CheckResult, StudentError, call_student, compare, exercise_check, failed, generator,
               run_check, snapshot, state_problem)

RULE_NAMES = {"gradient": "backprop", "deconvnet": "DeconvNet", "guided": "guided backprop"}
NO_GRADIENT = "no-gradient"


def _apply_function(function):
    """Run ``function.apply`` forward on x and backward with the signal g: (output, input gradient)."""
    def run(x: torch.Tensor, g: torch.Tensor):
        x = x.clone().requires_grad_(True)
        out = function.apply(x)
        if not isinstance(out, torch.Tensor):
            return out, None
        (grad,) = torch.autograd.grad(out, x, grad_outputs=g, allow_unused=True)
        return out.detach(), NO_GRADIENT if grad is None else grad
    return run


def _relu_mistakes(rule: str) -> dict:
    rules = RELU_BACKWARD_RULES
    mistakes = {f"the backward pass follows the {RULE_NAMES[other]} rule, not the {RULE_NAMES[rule]} rule":
                (lambda other: lambda x, g: (x.clamp(min=0), rules[other](x, g)))(other)
                for other in rules if other != rule}
    mistakes.update({
        "backward passes the gradient through unchanged: apply the rule to grad_output":
            lambda x, g: (x.clamp(min=0), g),
        "the forward pass must be ReLU, x.clamp(min=0): yours returned x unchanged": lambda x, g: (x, rules[rule](x, g)),
    })
    if rule != "deconvnet":
        mistakes.update({
            "at x = 0 a ReLU passes no gradient: use the mask (x > 0), not (x >= 0)":
                lambda x, g: (x.clamp(min=0), rules[rule](x, g, derivative=(x >= 0).to(g.dtype))),
            "multiply by the mask (x > 0), not by x itself":
                lambda x, g: (x.clamp(min=0), rules[rule](x, g, derivative=x.clamp(min=0))),
        })
    return mistakes


@exercise_check
def check_relu_function(function, rule: str) -> CheckResult:
    """``function``: a torch.autograd.Function subclass whose forward is ReLU and whose backward follows
    ``rule`` ("gradient", "deconvnet" or "guided"). Checked on the course guide's 3×3 example and fresh cases."""
    if rule not in RELU_BACKWARD_RULES:
        raise ValueError(f"rule: expected one of {sorted(RELU_BACKWARD_RULES)}, got {rule!r}")
    name = f"check_relu_function ({RULE_NAMES[rule]})"
    if not (isinstance(function, type) and issubclass(function, torch.autograd.Function)):
        return failed(name, "expected a torch.autograd.Function subclass (pass the class itself, not an instance "
                            "or .apply)")
    gen = generator(51)
    cases = [Case("the 3×3 example of the course guide", (torch.tensor([[1., -1, 5], [2, -5, -7], [-3, 2, 4]]),
                                                          torch.tensor([[-2., 3, -1], [6, -3, 1], [2, -1, 3]]))),
             Case("random 2×4×5×5 input and signal", (torch.randn(2, 4, 5, 5, generator=gen),
                                                      torch.randn(2, 4, 5, 5, generator=gen))),
             Case("random 7-vector with exact zeros in x", (torch.tensor([0., 1, -2, 0, 3, -1, 0.5]),
                                                            torch.randn(7, generator=gen)),
                  note="x holds exact zeros, where a ReLU's derivative is 0")]

    def compare_fn(expected, got):
        (e_out, e_grad), (g_out, g_grad) = expected, got
        if not isinstance(g_out, torch.Tensor):
            return f"forward must return a tensor, got {type(g_out).__name__} (a missing `return`?)"
        problem = compare(e_out, g_out)
        if problem:
            return f"the forward pass is not ReLU(x): {problem}"
        if g_grad is NO_GRADIENT:
            return "no gradient reached the input: backward must return the new gradient (a missing `return`?)"
        problem = compare(e_grad, g_grad)
        return f"the gradient passed back is wrong: {problem}" if problem else None

    return run_check(name, _apply_function(function), lambda x, g: (x.clamp(min=0), RELU_BACKWARD_RULES[rule](x, g)),
                     cases, compare_fn=compare_fn, mistakes=_relu_mistakes(rule),
                     hint={"gradient": "backward returns grad_output * (x > 0), with x saved in forward",
                           "deconvnet": "backward returns grad_output.clamp(min=0): the forward input plays no role",
                           "guided": "backward returns grad_output.clamp(min=0) * (x > 0)"}[rule])


# ----------------------------------------------------------------------- guided backprop by swapping
class _Branchy(nn.Module):
    """A small net with nested containers and a ReLU used twice, to catch shallow module swapping."""

    def __init__(self, seed: int):
        super().__init__()
        g = generator(seed)
        self.features = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(),
                                      nn.Sequential(nn.Conv2d(5, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU()),
                                      nn.MaxPool2d(2))
        self.act = nn.ReLU()
        self.head = nn.Linear(6, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            self.features[2][1].running_var.uniform_(0.5, 2.0, generator=g)
        self.eval()

    def forward(self, x):
        h = self.act(self.features(x))
        return self.head(self.act(h).mean((2, 3)))


def reference_relu_function(rule: str) -> type:
    """A torch.autograd.Function: ReLU forward, backward by ``rule`` (the course's version of exercise 1);
    the class carries its rule in ``.rule``."""
    backward_rule = RELU_BACKWARD_RULES[rule]

    class ReferenceReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return backward_rule(x, grad_output)

    ReferenceReLU.__name__ = ReferenceReLU.__qualname__ = f"Reference{rule.capitalize()}ReLU"
    ReferenceReLU.rule = rule
    return ReferenceReLU


class _Applying(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, h):
        return self.function.apply(h)


def _partly_swapped(model, x, target, function, depth: int) -> torch.Tensor:
    """The input gradient with only the ReLUs at most ``depth`` levels down swapped (the model restored)."""
    swapped = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU) and (name.count(".") + 2 if name else 1) <= depth:
                swapped.append((module, child_name, child))
    for parent, child_name, _ in swapped:
        setattr(parent, child_name, _Applying(function))
    try:
        return modified_gradient(model, x, target, "gradient")
    finally:
        for parent, child_name, child in swapped:
            setattr(parent, child_name, child)


@exercise_check
def check_guided_by_swapping(guided_by_swapping) -> CheckResult:
    """``guided_by_swapping(model, x, target, function)``: x N×C×H×W → N×C×H×W, the input gradient with
    every ``nn.ReLU`` module replaced by one applying ``function`` (an autograd Function with another backward
    rule); the model must come back unchanged. The check supplies its own guided and DeconvNet Functions and
    compares with ``course_utils.attribution.modified_gradient``."""
    gen = generator(61)
    cases = [Case("2 RGB images 8×8, class 1, guided rule, a net with nested Sequentials",
                  (_Branchy(62), torch.randn(2, 3, 8, 8, generator=gen), 1, reference_relu_function("guided"))),
             Case("3 RGB images 6×6, classes [3, 0, 2], guided rule",
                  (_Branchy(63), torch.randn(3, 3, 6, 6, generator=gen), torch.tensor([3, 0, 2]),
                   reference_relu_function("guided"))),
             Case("2 RGB images 8×8, class 2, DeconvNet rule",
                  (_Branchy(64), torch.randn(2, 3, 8, 8, generator=gen), 2, reference_relu_function("deconvnet")))]
    mistakes = {
        "this is the plain gradient: the ReLU modules were not replaced (nested ones too?)":
            lambda model, x, t, f: modified_gradient(model, x, t, "gradient"),
        "only the model's direct children were swapped: the ReLUs nested inside Sequentials must be replaced "
        "too — walk model.modules() and look at every module's named_children()":
            lambda model, x, t, f: _partly_swapped(model, x, t, f, depth=1),
        "the ReLUs two levels down were swapped but not the deeper ones: walk every module of model.modules(), "
        "not a fixed number of levels": lambda model, x, t, f: _partly_swapped(model, x, t, f, depth=2),
    }
    hint = ("collect (parent, child_name, child) for every nn.ReLU in model.modules(), "
            "setattr(parent, child_name, wrapper), and put the originals back in a finally: block")
    result = run_check("check_guided_by_swapping", guided_by_swapping,
                       lambda model, x, t, f: modified_gradient(model, x, t, f.rule), cases, mistakes=mistakes,
                       hint=hint)
    if not result.passed:
        return result
    failure = _restores_when_raising(guided_by_swapping, hint)     # a CheckResult is falsy when it failed
    return result if failure is None else failure


class _BackwardFails(torch.autograd.Function):
    """ReLU forward; its backward raises (to see that the student's function restores the model anyway)."""
    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError("this Function's backward fails on purpose")


def _restores_when_raising(guided_by_swapping, hint: str) -> CheckResult | None:
    """The failure for a function that leaves the swapped modules in the model when the backward pass raises."""
    args = (_Branchy(65), torch.randn(2, 3, 8, 8, generator=generator(66)), 1, _BackwardFails)
    before = snapshot(list(zip(("model", "x", "target", "function"), args)))
    try:
        call_student(guided_by_swapping, *args)
    except StudentError:
        pass                                  # the error should reach the caller; the model must be back anyway
    problem = state_problem(before)
    if problem is None:
        return None
    return failed("check_guided_by_swapping", f"when the backward pass raises, your function leaves the model "
                  f"changed: {problem}. A finally: block runs even when an error is raised", hint)


# ------------------------------------------------------------------------------------ rank correlation
def _pearson(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, dtype=float), np.asarray(b, dtype=float))[0, 1])


def _flat(t: torch.Tensor) -> np.ndarray:
    return t.detach().flatten().double().numpy()


def _spearman_formula(ra, rb) -> float:
    n = len(ra)
    return 1 - 6 * float(((ra - rb) ** 2).sum()) / (n * (n * n - 1))


@exercise_check
def check_rank_correlation(rank_corr) -> CheckResult:
    """``rank_corr(a, b)``: two maps of the same shape → a float, Spearman's rank correlation."""
    def ranks(method):
        return lambda a, b: _pearson(rankdata(_flat(a), method=method), rankdata(_flat(b), method=method))

    def argsort_ranks(a, b):
        return _pearson(a.flatten().argsort().argsort(), b.flatten().argsort().argsort())

    mistakes = {
        "this is Pearson's correlation of the values; correlate their ranks instead":
            lambda a, b: _pearson(_flat(a), _flat(b)),
        "tied values must share their average rank (scipy.stats.rankdata does that): ranks from argsort() or "
        "from the order of appearance give tied values different ranks":
            (ranks("ordinal"), argsort_ranks, ranks("min"), ranks("max"), ranks("dense")),
        "the shortcut 1 − 6·Σd²/(n(n² − 1)) is exact only without ties: correlate the average ranks instead "
        "(Pearson's correlation of the ranks)":
            (lambda a, b: _spearman_formula(rankdata(_flat(a)), rankdata(_flat(b))),
             lambda a, b: _spearman_formula(rankdata(_flat(a), "ordinal"), rankdata(_flat(b), "ordinal"))),
        "you ranked only one of the two maps: rank both, then correlate the ranks":
            (lambda a, b: _pearson(rankdata(_flat(a)), _flat(b)), lambda a, b: _pearson(_flat(a), rankdata(_flat(b)))),
    }
    gen = generator(71)
    a1, a4 = torch.randn(6, 6, generator=gen), torch.randn(6, 6, generator=gen)
    cases = [Case("a 6×6 map against a monotone transform of itself", (a1.clone(), a1.exp() * 3 + 1)),
             Case("two random 1×8×8 maps", (torch.randn(1, 8, 8, generator=gen), torch.randn(1, 8, 8, generator=gen))),
             Case("maps with ties (many exact zeros)", (torch.randn(30, generator=gen).clamp(min=0),
                                                        torch.randn(30, generator=gen).clamp(min=0)),
                  note="this is the first case with ties: tied values must share their average rank"),
             Case("a map against its negative", (a4.clone(), -a4))]
    return run_check("check_rank_correlation", rank_corr,
                     lambda x, y: float(rank_correlation(x.reshape(1, -1), y.reshape(1, -1))[0]), cases,
                     mistakes=mistakes, atol=1e-6, rtol=1e-5,
                     hint="scipy.stats.rankdata gives average ranks to ties; then np.corrcoef of the ranks")
