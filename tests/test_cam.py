"""CAM, Grad-CAM and Guided Grad-CAM: exact values on hand-made models, Grad-CAM = CAM / (h·w) on both course
models, earlier layers, callable targets, bad input, model restoration, and the lecture-07 exercise checks."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attribution import cam, grad_cam, guided_backprop, guided_grad_cam, unit_target
from course_utils.checks.cam import (check_class_activation_map, check_counterfactual_grad_cam, check_grad_cam,
                                     small_cnn)
from course_utils.hooks import capture_activations
from course_utils.models import efficientnet_lite0, fashion_cnn, preprocess


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_cam_by_hand():
    """Two channels, identity features: CAM = w[c,0]·A_0 + w[c,1]·A_1 at the feature resolution."""
    model = nn.Sequential(nn.Identity(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        model[3].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))
        model[3].bias.copy_(torch.tensor([0.1, -0.2]))
    x = torch.tensor([[[[1.0, 0.0], [2.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]])
    got = cam(model, x, 0, layer="0")
    assert torch.equal(got, torch.tensor([[[[1.0, -2.0], [0.0, 4.0]]]]))
    assert torch.allclose(cam(model, x, 1, layer="0", relu=True, normalize=True),
                          torch.tensor([[[[0.5, 3.0], [4.0, 2.0]]]]) / 4)


def test_grad_cam_by_hand():
    """score = Σ_ij A_0(ij)² on one channel: α = mean(2A), map = α·A."""
    class Square(nn.Module):
        def forward(self, x):
            return (x[:, :1] ** 2).flatten(1).sum(1, keepdim=True)
    model = nn.Sequential()
    model.add_module("feat", nn.Identity())
    model.add_module("head", Square())
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.0]], [[5.0, 5.0], [5.0, 5.0]]]])
    alpha = 2 * x[0, 0].mean()
    expected = (alpha * x[0, 0]).clamp_min(0)
    assert torch.allclose(grad_cam(model, x, 0, layer="feat"), expected.view(1, 1, 2, 2))


@pytest.mark.parametrize("layer", ["2", "3"])
def test_grad_cam_matches_a_naive_computation(layer):
    model = small_cnn(1, gap=False)
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([2, 0, 3])
    expected = []
    for n in range(3):
        with capture_activations(model, layer, detach=False) as acts:
            score = model(x[n:n + 1].clone().requires_grad_(True))[0, target[n]]
        (g,) = torch.autograd.grad(score, acts[layer])
        m = (g.mean((2, 3), keepdim=True) * acts[layer]).sum(1, keepdim=True).clamp_min(0).detach()
        expected.append(F.interpolate(m, size=(8, 8), mode="bilinear", align_corners=False))
    for bs in (1, 2, 5):
        assert torch.allclose(grad_cam(model, x, target, layer, batch_size=bs), torch.cat(expected), atol=1e-12)


def _ratio_is_one_positive_scale(a, b):
    """a = s·b for one s > 0: returns s (fails otherwise)."""
    s = (a * b).sum() / (b * b).sum()
    assert s > 0
    assert torch.allclose(a, s * b, rtol=1e-4, atol=1e-5 * a.abs().max())
    return s.item()


def test_grad_cam_is_cam_up_to_a_positive_scale_on_fashion_cnn():
    from course_utils.data import load_fashion_mnist
    model = fashion_cnn()
    x, y = load_fashion_mnist("test")
    x, y = x[:4], y[:4]
    c = cam(model, x, y, layer="relu4")
    g = grad_cam(model, x, y, layer="relu4", relu=False)
    assert c.shape == (4, 1, 28, 28)
    assert abs(_ratio_is_one_positive_scale(c, g) - 49) < 1e-2          # h·w = 7·7
    low = grad_cam(model, x, y, layer="relu4", relu=False, upsample=False)
    assert torch.equal(grad_cam(model, x, y, layer="relu4", upsample=False), low.clamp_min(0))


def test_grad_cam_is_cam_up_to_a_positive_scale_on_efficientnet_lite0():
    from course_utils.data import load_image
    model = efficientnet_lite0()
    x = preprocess(load_image("cat"), model)
    c = cam(model, x, 285, layer="_head_act")                        # Egyptian cat
    g = grad_cam(model, x, 285, layer="_head_act", relu=False)
    assert c.shape == (1, 1, 224, 224)
    assert abs(_ratio_is_one_positive_scale(c, g) - 49) < 1e-2
    lo = grad_cam(model, x[:1], 285, layer="_blocks.10", upsample=False)
    assert lo.shape == (1, 1, 14, 14) and (lo >= 0).all()


def test_unit_target_and_normalize():
    torch.manual_seed(0)        # a random model whose map is not all ≤ 0 (which normalizes to zeros, not 1)
    model = fashion_cnn(pretrained=False)
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    m = grad_cam(model, x, unit_target("conv4", 3), layer="relu2", normalize=True)
    assert m.shape == (2, 1, 28, 28) and torch.allclose(m.flatten(1).amax(1), torch.ones(2))
    zero = cam(model, torch.zeros(1, 1, 28, 28), 0, layer="relu4", normalize=True)
    assert torch.isfinite(zero).all()


def test_guided_grad_cam_is_the_product():
    model = fashion_cnn(pretrained=False)
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    got = guided_grad_cam(model, x, 4, layer="relu4")
    expected = guided_backprop(model, x, 4) * grad_cam(model, x, 4, layer="relu4")
    assert got.shape == x.shape and torch.allclose(got, expected)


@pytest.mark.parametrize("func, kwargs, error, words", [
    (cam, dict(layer="bn4"), ValueError, "not the global average"),   # right width, not the pooled map
    (cam, dict(layer="relu3"), ValueError, "128 channels"),
    (cam, dict(layer="fc"), ValueError, "feature map"),
    (cam, dict(layer="relu4", fc="relu4"), TypeError, "fc"),
    (cam, dict(layer="relu4", target=unit_target("conv4", 0)), TypeError, "grad_cam"),
    (cam, dict(layer="relu4", target=12), ValueError, "target"),
    (grad_cam, dict(layer="conv9"), ValueError, "no submodule"),
    (grad_cam, dict(layer="flatten"), ValueError, "feature map"),
    (grad_cam, dict(layer="relu4", inputs=torch.rand(1, 28, 28)), ValueError, "inputs"),
    (grad_cam, dict(layer="relu4", batch_size=-1), ValueError, "batch_size"),
    (grad_cam, dict(layer="relu4", target=torch.tensor([1, 2, 3])), ValueError, "target"),
])
def test_bad_input(func, kwargs, error, words):
    model = fashion_cnn(pretrained=False)
    args = dict(inputs=torch.rand(2, 1, 28, 28), target=1)
    args.update(kwargs)
    with pytest.raises(error, match=words):
        func(model, args.pop("inputs"), args.pop("target"), **args)


def test_cam_needs_a_linear_layer():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ValueError, match="nn.Linear"):
        cam(model, torch.rand(1, 1, 8, 8), 0, layer="0")


@pytest.mark.parametrize("call", [
    lambda m, x: cam(m, x, 2, layer="relu4"),
    lambda m, x: grad_cam(m, x, 2, layer="relu2"),
    lambda m, x: guided_grad_cam(m, x, 2, layer="relu4"),
    lambda m, x: cam(m, x, 2, layer="bn4"),            # raises inside the hooks
    lambda m, x: grad_cam(m, x, 20, layer="relu2"),    # raises inside the hooks
])
def test_model_restored(call):
    model = fashion_cnn(pretrained=False).train()
    model.fc.weight.requires_grad_(False)
    flags = [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]
    try:
        call(model, torch.rand(2, 1, 28, 28))
    except ValueError:
        pass
    assert ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]) == flags
    assert n_hooks(model) == 0 and all(p.grad is None for p in model.parameters())


# --------------------------------------------------------------------------------------- exercise checks
def ref_cam(features, fc_weight, target):
    return torch.einsum("nk,nkhw->nhw", fc_weight[target], features)[:, None]


def ref_grad_cam(model, inputs, target, layer, sign=1.0):
    x = inputs.clone().requires_grad_(True)
    with capture_activations(model, layer, detach=False) as acts:
        out = model(x)
    t = torch.as_tensor(target).expand(len(inputs))
    (g,) = torch.autograd.grad(sign * out.gather(1, t[:, None]).sum(), acts[layer])
    m = (g.mean((2, 3), keepdim=True) * acts[layer]).sum(1, keepdim=True).clamp_min(0)
    return F.interpolate(m.detach(), size=inputs.shape[-2:], mode="bilinear", align_corners=False)


def ref_counterfactual(model, inputs, target, layer):
    return ref_grad_cam(model, inputs, target, layer, sign=-1.0)


def stub(*args):
    raise NotImplementedError("Exercise: write it")


@pytest.mark.parametrize("check, reference", [(check_class_activation_map, ref_cam), (check_grad_cam, ref_grad_cam),
                                              (check_counterfactual_grad_cam, ref_counterfactual)])
def test_checks_pass_on_reference_and_wait_for_stub(check, reference):
    result = check(reference)
    assert result.passed, result.message
    assert check(stub).status == "not implemented"


def test_checks_diagnose_typical_mistakes():
    def all_classes(features, fc_weight, target):
        return torch.einsum("ck,nkhw->nhw", fc_weight, features)[:, None]
    assert "each image's own class" in check_class_activation_map(all_classes).message

    def summed_gradients(model, inputs, target, layer):
        m = _signed(model, inputs, target, layer, pool="sum").clamp_min(0)
        return F.interpolate(m, size=inputs.shape[-2:], mode="bilinear", align_corners=False)
    assert "mean" in check_grad_cam(summed_gradients).message

    def no_relu(model, inputs, target, layer):
        return F.interpolate(_signed(model, inputs, target, layer), size=inputs.shape[-2:], mode="bilinear",
                             align_corners=False)
    assert "ReLU" in check_grad_cam(no_relu).message

    assert "ordinary Grad-CAM" in check_counterfactual_grad_cam(ref_grad_cam).message


def _signed(model, inputs, target, layer, pool="mean"):
    """Σ_k α_k A_k without the ReLU, α_k the spatial mean (or sum) of the gradient: N×1×h×w."""
    x = inputs.clone().requires_grad_(True)
    with capture_activations(model, layer, detach=False) as acts:
        out = model(x)
    t = torch.as_tensor(target).expand(len(inputs))
    (g,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), acts[layer])
    alpha = g.mean((2, 3), keepdim=True) if pool == "mean" else g.sum((2, 3), keepdim=True)
    return (alpha * acts[layer]).sum(1, keepdim=True).detach()


# ------------------------------------------------------------- in-place ReLU after the layer (torchvision)
def _inplace_fashion_cnn():
    """The trained FashionCNN with ReLU(inplace=True) after each batch norm (torchvision's pattern)."""
    model = fashion_cnn()
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = True
    return model


def test_grad_cam_of_bn4_before_an_inplace_relu_is_not_the_relu4_map():
    model = _inplace_fashion_cnn()
    from course_utils.data import load_fashion_mnist
    x, y = load_fashion_mnist("test")
    x, y = x[:2], y[:2]
    at_bn4 = grad_cam(model, x, y, layer="bn4", relu=False, upsample=False)
    at_relu4 = grad_cam(model, x, y, layer=model.relu4, relu=False, upsample=False)
    assert (at_bn4 - at_relu4).abs().max() > 0.1 * at_relu4.abs().max()   # not the relu4 map in disguise
    expected = []
    for n in range(2):                       # by hand: A = bn4's output, score = fc(gap(relu(A)))
        h = x[n:n + 1]
        for name, m in model.named_children():
            h = m(h.clone())
            if name == "bn4":
                break
        a = h.detach().requires_grad_(True)
        score = model.fc(model.flatten(model.gap(torch.relu(a))))[0, y[n]]
        (g,) = torch.autograd.grad(score, a)
        expected.append((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True).detach())
    torch.testing.assert_close(at_bn4, torch.cat(expected))
    torch.testing.assert_close(grad_cam(model, x, y, layer=model.bn4), grad_cam(model, x, y, layer="bn4"))


def test_cam_accepts_modules_for_layer_and_fc():
    model = fashion_cnn()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(cam(model, x, 1, layer=model.relu4, fc=model.fc), cam(model, x, 1, layer="relu4"))
