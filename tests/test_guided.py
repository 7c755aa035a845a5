"""DeconvNet and guided backprop (lecture 05): the worked 3×3 example, every ReLU-like activation,
exact values on a tiny two-layer net, max-pool switches, errors, restoration, sanity-check helpers, checks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn

from course_utils.attribution import (RELU_BACKWARD_RULES, deconvnet, guided_backprop, modified_gradient,
                                      override_relu_backward, relu_backward_deconvnet, relu_backward_gradient,
                                      relu_backward_guided, saliency)
from course_utils.checks.guided import (check_guided_by_swapping, check_rank_correlation, check_relu_function,
                                        reference_relu_function)

X_WORKED = torch.tensor([[1., -1, 5], [2, -5, -7], [-3, 2, 4]])
G_WORKED = torch.tensor([[-2., 3, -1], [6, -3, 1], [2, -1, 3]])
EXPECTED = {"gradient": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
            "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
            "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]]}


# -------------------------------------------------------------------------------- the worked example
def test_rule_functions_on_the_worked_example():
    assert relu_backward_gradient(X_WORKED, G_WORKED).tolist() == EXPECTED["gradient"]
    assert relu_backward_deconvnet(X_WORKED, G_WORKED).tolist() == EXPECTED["deconvnet"]
    assert relu_backward_guided(X_WORKED, G_WORKED).tolist() == EXPECTED["guided"]


class JustReLU(nn.Module):
    def forward(self, x):
        return torch.relu(x)


@pytest.mark.parametrize("rule", ["gradient", "deconvnet", "guided"])
def test_worked_example_through_a_model(rule):
    """A model that is only a ReLU, and a target whose gradient w.r.t. the ReLU's output is G."""
    target = lambda m, x: (m(x) * G_WORKED).flatten(1).sum(1)
    got = modified_gradient(JustReLU(), X_WORKED.view(1, 1, 3, 3), target, rule)
    assert got.view(3, 3).tolist() == EXPECTED[rule]


# ----------------------------------------------------------------------- every ReLU-like activation
class Functional(nn.Module):
    """Linear → activation given as a function → linear."""

    def __init__(self, act, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.l1, self.l2, self.act = nn.Linear(12, 9), nn.Linear(9, 4), act
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 2)

    def forward(self, x):
        return self.l2(self.act(self.l1(x.flatten(1))))


def _inplace_relu(h):
    torch.relu_(h)
    return h            # relies on the in-place change, not on the return value


ACTIVATIONS = {   # name: (activation, its local derivative as a function of the pre-activation)
    "nn.ReLU": (nn.ReLU(), lambda h: (h > 0).float()),
    "nn.ReLU(inplace)": (nn.ReLU(inplace=True), lambda h: (h > 0).float()),
    "nn.ReLU6": (nn.ReLU6(), lambda h: ((h > 0) & (h < 6)).float()),
    "nn.ReLU6(inplace)": (nn.ReLU6(inplace=True), lambda h: ((h > 0) & (h < 6)).float()),
    "nn.LeakyReLU": (nn.LeakyReLU(0.1), lambda h: torch.where(h > 0, 1.0, 0.1)),
    "nn.LeakyReLU(inplace)": (nn.LeakyReLU(0.2, inplace=True), lambda h: torch.where(h > 0, 1.0, 0.2)),
    "nn.Hardtanh(0, 3)": (nn.Hardtanh(0, 3), lambda h: ((h > 0) & (h < 3)).float()),
    "F.relu": (F.relu, lambda h: (h > 0).float()),
    "F.relu(inplace)": (lambda h: F.relu(h, inplace=True), lambda h: (h > 0).float()),
    "torch.relu": (torch.relu, lambda h: (h > 0).float()),
    "Tensor.relu": (lambda h: h.relu(), lambda h: (h > 0).float()),
    "torch.relu_": (_inplace_relu, lambda h: (h > 0).float()),
    "F.relu6": (F.relu6, lambda h: ((h > 0) & (h < 6)).float()),
    "F.leaky_relu": (lambda h: F.leaky_relu(h, 0.3), lambda h: torch.where(h > 0, 1.0, 0.3)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_relu_like_activation_is_guided(name):
    act, derivative = ACTIVATIONS[name]
    model = Functional(act)
    x = torch.randn(5, 1, 3, 4, generator=torch.Generator().manual_seed(3))
    target = torch.tensor([0, 1, 2, 3, 1])
    h = model.l1(x.flatten(1)).detach()
    g_top = model.l2.weight.detach()[target]             # the signal arriving at the activation's output
    w1 = model.l1.weight.detach()
    expected = {"gradient": (g_top * derivative(h)) @ w1,
                "deconvnet": g_top.clamp(min=0) @ w1,
                "guided": (g_top.clamp(min=0) * derivative(h)) @ w1}
    for rule, exp in expected.items():
        got = modified_gradient(model, x, target, rule).flatten(1)
        torch.testing.assert_close(got, exp, atol=1e-5, rtol=1e-5, msg=f"{name}, {rule}")
    # the "gradient" rule reproduces autograd exactly
    torch.testing.assert_close(modified_gradient(model, x, target, "gradient"), saliency(model, x, target, abs=False))


def test_deconvnet_uses_max_pool_switches():
    """Max-pool then sum: the signal goes back only to each window's maximum."""
    model = nn.Sequential(nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1))
    with torch.no_grad():
        model[3].weight.copy_(torch.tensor([[1.0, -1.0, 2.0, 0.5]]))
    x = torch.tensor([[1., 3, 0, 2], [2, 0, 5, 1], [-1, -2, 4, 1], [-3, -4, 0, 2]]).view(1, 1, 4, 4)
    d = deconvnet(model, x, 0).view(4, 4)
    expected = torch.zeros(4, 4)
    expected[0, 1], expected[1, 2], expected[2, 0], expected[2, 2] = 1.0, 0.0, 2.0, 0.5   # switches
    assert d.tolist() == expected.tolist()
    gb = guided_backprop(model, x, 0).view(4, 4)
    expected[2, 0] = 0.0    # that window's max is −1 < 0: the ReLU was off, guided blocks it, DeconvNet does not
    assert gb.tolist() == expected.tolist()


def test_identical_for_every_batch_size():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                          nn.Conv2d(4, 5, 3), nn.ReLU6(), nn.Flatten(), nn.Linear(5, 3)).eval()
    x = torch.randn(5, 3, 6, 6)
    target = torch.tensor([0, 1, 2, 1, 0])
    for method in (guided_backprop, deconvnet):
        results = [method(model, x, target, batch_size=b) for b in (1, 2, 3, 64)]
        for r in results[1:]:
            torch.testing.assert_close(r, results[0], atol=1e-6, rtol=1e-5)


def test_efficientnet_lite0_every_relu6_is_guided():
    from course_utils.models import efficientnet_lite0
    model = efficientnet_lite0()
    n_relu6 = sum(isinstance(m, nn.ReLU6) for m in model.modules())
    with override_relu_backward("guided") as mode:
        model(torch.randn(1, 3, 64, 64))
    assert dict(mode.counts) == {"relu6": n_relu6} and n_relu6 == 33
    assert not mode.unguided


# ----------------------------------------------------------------------------- errors and restoration
def test_model_without_relu_raises():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    with pytest.raises(ValueError, match="no ReLU-like activation"):
        guided_backprop(model, torch.randn(2, 1, 3, 4), 0)


@pytest.mark.parametrize("act", [nn.SiLU(), nn.GELU(), nn.Sigmoid(), nn.Tanh(), nn.Hardtanh(), nn.ELU(),
                                 nn.Softplus()])
def test_unguidable_activation_raises_unless_not_strict(act):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 6), act, nn.Linear(6, 3))
    x = torch.randn(2, 1, 3, 4)
    with pytest.raises(ValueError, match="no 'guided' backward rule"):
        guided_backprop(model, x, 0)
    # not strict: the other activation's own gradient goes through
    assert guided_backprop(model, x, 0, strict=False).shape == x.shape
    with override_relu_backward("deconvnet", strict=False) as mode:
        model(x)
    assert mode.counts["relu"] == 1 and sum(mode.unguided.values()) == 1


def test_everything_restored_after_an_error():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3), nn.Sigmoid()).train()
    model[1].weight.requires_grad_(False)
    x = torch.randn(2, 1, 3, 4)
    with pytest.raises(ValueError):
        deconvnet(model, x, 0)
    assert torch._C._len_torch_function_stack() == 0                # the mode is gone
    assert model.training and not model[1].weight.requires_grad and model[3].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())
    # ReLU is an ordinary ReLU again
    xr = torch.tensor([-1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad((torch.relu(xr) * torch.tensor([3.0, -4.0])).sum(), xr)
    assert g.tolist() == [0.0, -4.0]


def test_bad_arguments():
    model = Functional(nn.ReLU())
    x = torch.randn(2, 1, 3, 4)
    with pytest.raises(ValueError, match="rule"):
        modified_gradient(model, x, 0, "guidedd")
    with pytest.raises(ValueError, match="inputs"):
        guided_backprop(model, x[0], 0)
    with pytest.raises(ValueError, match="target"):
        deconvnet(model, x, 7)
    with pytest.raises(ValueError, match="batch_size"):
        guided_backprop(model, x, 0, batch_size=-1)


# ------------------------------------------------------------------------------------------------ checks


class Stub(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        raise NotImplementedError("Exercise: write it")

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError("Exercise: write it")


@pytest.mark.parametrize("rule", ["gradient", "deconvnet", "guided"])
def test_relu_function_check(rule):
    assert check_relu_function(reference_relu_function(rule), rule).passed
    assert check_relu_function(Stub, rule).status == "not implemented"
    other = "deconvnet" if rule == "guided" else "guided"
    result = check_relu_function(reference_relu_function(other), rule)
    assert not result.passed and "follows the" in result.message, result.message


def swap_reference(model, x, target, function):
    """Replace every nn.ReLU by a module applying ``function`` and take the input gradient."""
    class Wrapper(nn.Module):
        def forward(self, h):
            return function.apply(h)
    swapped = []
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                swapped.append((parent, name, child))
                setattr(parent, name, Wrapper())
    try:
        return saliency(model, x, target, abs=False)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def test_swapping_check():
    assert check_guided_by_swapping(swap_reference).passed
    assert check_guided_by_swapping(lambda model, x, t, f: Stub.apply(x)).status == "not implemented"

    def shallow(model, x, target, function):   # replaces only the top-level ReLUs, and never restores
        class Wrapper(nn.Module):
            def forward(self, h):
                return function.apply(h)
        for name, child in list(model.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(model, name, Wrapper())
        return saliency(model, x, target, abs=False)
    result = check_guided_by_swapping(shallow)
    assert not result.passed and "not restored" in result.message, result.message
    result = check_guided_by_swapping(lambda model, x, t, f: saliency(model, x, t, abs=False))
    assert not result.passed and "plain gradient" in result.message, result.message


def test_rank_correlation_check():
    def spearman(a, b):
        return float(spearmanr(a.flatten(), b.flatten()).statistic)

    def pearson(a, b):
        return float(np.corrcoef(a.flatten(), b.flatten())[0, 1])
    assert check_rank_correlation(spearman).passed
    assert check_rank_correlation(lambda a, b: Stub.apply(a)).status == "not implemented"
    result = check_rank_correlation(pearson)
    assert not result.passed and "Pearson" in result.message, result.message


def test_swapping_check_wants_the_model_restored_when_backward_raises():
    def restores_only_on_success(model, x, target, function):   # right answers, but no finally: block
        swapped = [(p, n, c) for p in list(model.modules()) for n, c in p.named_children() if isinstance(c, nn.ReLU)]

        class Wrapper(nn.Module):
            def forward(self, h):
                return function.apply(h)
        for parent, name, _ in swapped:
            setattr(parent, name, Wrapper())
        grad = saliency(model, x, target, abs=False)
        for parent, name, child in swapped:
            setattr(parent, name, child)
        return grad
    result = check_guided_by_swapping(restores_only_on_success)
    assert not result.passed and "backward pass raises" in result.message and "finally" in result.message, result.message
    assert check_guided_by_swapping(swap_reference).passed    # restores in a finally: block
