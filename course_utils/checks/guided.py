"""Checks for the exercises of lecture 05: the three ReLU backward rules as autograd Functions, guided
backprop by swapping the ReLU modules, and the rank correlation used by the sanity checks.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..attribution import RELU_BACKWARD_RULES, modified_gradient
from ..evaluation import rank_correlation
from . import Case, CheckResult, compare, run_check

RULE_NAMES = {"gradient": "backprop", "deconvnet": "DeconvNet", "guided": "guided backprop"}


def _apply_function(function):
    """Run ``function.apply`` forward on x and backward with the signal g: (output, input gradient)."""
    def run(x: torch.Tensor, g: torch.Tensor):
        x = x.clone().requires_grad_(True)
        out = function.apply(x)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"forward must return a tensor, got {type(out).__name__}")
        (grad,) = torch.autograd.grad(out, x, grad_outputs=g, allow_unused=True)
        if grad is None:
            raise RuntimeError("no gradient reached the input: does backward return the new gradient?")
        return out.detach(), grad
    return run


def check_relu_function(function, rule: str) -> CheckResult:
    """``function``: a torch.autograd.Function subclass whose forward is ReLU and whose backward follows
    ``rule`` ("gradient", "deconvnet" or "guided"). Checked on the course guide's 3×3 example and fresh cases."""
    if rule not in RELU_BACKWARD_RULES:
        raise ValueError(f"rule: expected one of {sorted(RELU_BACKWARD_RULES)}, got {rule!r}")
    name = f"check_relu_function ({RULE_NAMES[rule]})"
    if not (isinstance(function, type) and issubclass(function, torch.autograd.Function)):
        return CheckResult(name, "failed", f"❌ {name}: expected a torch.autograd.Function subclass "
                                           f"(pass the class itself, not an instance or .apply)")
    gen = torch.Generator().manual_seed(51)
    worked_x = torch.tensor([[1., -1, 5], [2, -5, -7], [-3, 2, 4]])
    worked_g = torch.tensor([[-2., 3, -1], [6, -3, 1], [2, -1, 3]])
    cases = [Case("the 3×3 example of the course guide", (worked_x, worked_g)),
             Case("random 2×4×5×5 input and signal", (torch.randn(2, 4, 5, 5, generator=gen),
                                                      torch.randn(2, 4, 5, 5, generator=gen))),
             Case("random 7-vector with exact zeros in x", (torch.tensor([0., 1, -2, 0, 3, -1, 0.5]),
                                                            torch.randn(7, generator=gen)))]

    def reference(x, g):
        return x.clamp(min=0), RELU_BACKWARD_RULES[rule](x, g)

    def compare_fn(expected, got):
        if not isinstance(got, tuple):
            return f"internal: {got!r}"
        (e_out, e_grad), (g_out, g_grad) = expected, got
        problem = compare(e_out, g_out)
        if problem:
            return f"the forward pass is not ReLU(x): {problem}"
        problem = compare(e_grad, g_grad)
        if problem:
            x, g = current["case"]
            for other, fn in RELU_BACKWARD_RULES.items():
                if other != rule and torch.allclose(g_grad.double(), fn(x, g).double(), atol=1e-6):
                    return f"the backward pass follows the {RULE_NAMES[other]} rule, not the {RULE_NAMES[rule]} rule"
            return f"the gradient passed back is wrong: {problem}"
        return None

    current: dict = {}
    student = _apply_function(function)

    def tracked(x, g):
        current["case"] = (x, g)
        return student(x, g)

    return run_check(name, tracked, reference, cases, compare_fn=compare_fn,
                     hint={"gradient": "backward returns grad_output * (x > 0), with x saved in forward",
                           "deconvnet": "backward returns grad_output.clamp(min=0): the forward input plays no role",
                           "guided": "backward returns grad_output.clamp(min=0) * (x > 0)"}[rule])


# ----------------------------------------------------------------------- guided backprop by swapping
class _Branchy(nn.Module):
    """A small net with nested containers and a ReLU used twice, to catch shallow module swapping."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
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
    """A torch.autograd.Function: ReLU forward, backward by ``rule`` (the course's version of exercise 1)."""
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
    return ReferenceReLU


def check_guided_by_swapping(guided_by_swapping) -> CheckResult:
    """``guided_by_swapping(model, x, target, function)``: x N×C×H×W → N×C×H×W, the input gradient with
    every ``nn.ReLU`` module replaced by one applying ``function`` (an autograd Function with another backward
    rule); the model must come back unchanged. The check supplies its own guided and DeconvNet Functions and
    compares with ``course_utils.attribution.modified_gradient``."""
    name = "check_guided_by_swapping"
    gen = torch.Generator().manual_seed(61)
    cases = [Case("2 RGB images 8×8, class 1, guided rule, a net with nested Sequentials",
                  (_Branchy(62), torch.randn(2, 3, 8, 8, generator=gen), 1, "guided")),
             Case("3 RGB images 6×6, classes [3, 0, 2], guided rule",
                  (_Branchy(63), torch.randn(3, 3, 6, 6, generator=gen), torch.tensor([3, 0, 2]), "guided")),
             Case("2 RGB images 8×8, class 2, DeconvNet rule",
                  (_Branchy(64), torch.randn(2, 3, 8, 8, generator=gen), 2, "deconvnet"))]

    def reference(model, x, target, rule):
        return modified_gradient(model, x, target, rule)

    current: dict = {}

    def student(model, x, target, rule):
        current["case"] = (model, x, target)
        before = list(model.named_modules())
        result = guided_by_swapping(model, x, target, reference_relu_function(rule))
        after = list(model.named_modules())
        if [n for n, _ in before] != [n for n, _ in after] or any(m is not m2 for (_, m), (_, m2) in zip(before, after)):
            changed = [n for (n, m), (_, m2) in zip(before, after) if m is not m2] or ["(structure)"]
            raise AssertionError(f"the model was not restored: module {changed[0]!r} is still replaced")
        return result

    def compare_fn(expected, got):
        problem = compare(expected, got)
        if problem and isinstance(got, torch.Tensor) and got.shape == expected.shape:
            model, x, target = current["case"]
            plain = modified_gradient(model, x, target, "gradient")
            if torch.allclose(got.detach(), plain, atol=1e-6):
                return "this is the plain gradient: the ReLU modules were not replaced (nested ones too?)"
        return problem

    return run_check(name, student, reference, cases, compare_fn=compare_fn,
                     hint="collect (parent, child_name, child) for every nn.ReLU in model.modules(), "
                          "setattr(parent, child_name, wrapper), and put the originals back in a finally: block")


# ------------------------------------------------------------------------------------ rank correlation
def check_rank_correlation(rank_corr) -> CheckResult:
    """``rank_corr(a, b)``: two maps of the same shape → a float, Spearman's rank correlation."""
    gen = torch.Generator().manual_seed(71)
    a = torch.randn(6, 6, generator=gen)
    cases = [Case("a 6×6 map against a monotone transform of itself", (a, a.exp() * 3 + 1)),
             Case("two random 1×8×8 maps", (torch.randn(1, 8, 8, generator=gen), torch.randn(1, 8, 8, generator=gen))),
             Case("maps with ties (many exact zeros)", (torch.randn(30, generator=gen).clamp(min=0),
                                                        torch.randn(30, generator=gen).clamp(min=0))),
             Case("a map against its negative", (a, -a))]

    def reference(x, y):
        return float(rank_correlation(x.reshape(1, -1), y.reshape(1, -1))[0])

    def compare_fn(expected, got):
        problem = compare(expected, got, atol=1e-6, rtol=1e-5)
        if problem and isinstance(got, (float, int, np.floating, torch.Tensor)):
            x, y = current["case"]
            xs, ys = x.flatten().double(), y.flatten().double()
            pearson = float(torch.corrcoef(torch.stack([xs, ys]))[0, 1])
            if np.isclose(float(got), pearson, atol=1e-6):
                return "this is Pearson's correlation of the values; correlate their ranks instead"
        return problem

    current: dict = {}

    def tracked(x, y):
        current["case"] = (x, y)
        return rank_corr(x, y)

    return run_check("check_rank_correlation", tracked, reference, cases, compare_fn=compare_fn,
                     hint="scipy.stats.rankdata gives average ranks to ties; then np.corrcoef of the ranks")
