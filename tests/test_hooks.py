"""Activation capture, model-state guard and receptive fields (checked against gradient support)."""
import pytest
import torch
from torch import nn

from course_utils.hooks import (capture_activations, get_layer, preserved_state, receptive_field_step,
                                receptive_fields)
from course_utils.models import efficientnet_lite0, fashion_cnn


def n_hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_capture_activations_shapes_and_cleanup():
    model = fashion_cnn(pretrained=False)
    with capture_activations(model, ["conv1", "relu4"]) as acts:
        model(torch.rand(3, 1, 28, 28))
        assert n_hooks(model) == 2
    assert acts["conv1"].shape == (3, 32, 28, 28) and acts["relu4"].shape == (3, 64, 7, 7)
    assert not acts["conv1"].requires_grad and n_hooks(model) == 0


def test_capture_removes_hooks_on_error_and_keeps_graph_when_asked():
    model = fashion_cnn(pretrained=False)
    with pytest.raises(RuntimeError):
        with capture_activations(model, "conv2", detach=False) as acts:
            model(torch.rand(1, 1, 28, 28, requires_grad=True))
            assert acts["conv2"].requires_grad
            raise RuntimeError("boom")
    assert n_hooks(model) == 0


def test_unknown_layer_suggests_names():
    with pytest.raises(ValueError, match="conv1"):
        get_layer(fashion_cnn(pretrained=False), "conv")
    with pytest.raises(ValueError, match="at least one"):
        with capture_activations(fashion_cnn(pretrained=False), []):
            pass


def test_preserved_state_restores_flags_even_on_error():
    model = fashion_cnn(pretrained=False).train()
    model.conv1.weight.requires_grad_(False)
    with pytest.raises(KeyError):
        with preserved_state(model):
            assert not model.training and not any(p.requires_grad for p in model.parameters())
            raise KeyError
    assert model.training and model.bn1.training
    assert not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad


def test_receptive_field_recursion_by_hand():
    # 3×3 conv (pad 1) → 2×2 pool → 3×3 conv: sizes 3, 4, 8; jumps 1, 2, 2
    r, j, s = receptive_field_step(1, 1, 0.0, 3, 1, 1)
    assert (r, j, s) == (3, 1, 0.0)
    r, j, s = receptive_field_step(r, j, s, 2, 2, 0)
    assert (r, j, s) == (4, 2, 0.5)
    assert receptive_field_step(r, j, s, 3, 1, 1) == (8, 2, 0.5)


def test_fashion_cnn_receptive_fields():
    rfs = {rf.name: rf for rf in receptive_fields(fashion_cnn(pretrained=False), (1, 28, 28))}
    assert [(rfs[n].size, rfs[n].jump) for n in ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4"]] == \
        [(5, 1), (6, 2), (10, 2), (12, 4), (20, 4), (28, 4)]


def gradient_support(model, layer, shape, y, x):
    """Rows/cols of input pixels with a nonzero gradient for one unit (summed over channels)."""
    torch.manual_seed(0)
    inp = torch.rand(1, *shape, requires_grad=True)
    with preserved_state(model), capture_activations(model, layer, detach=False) as acts:
        model(inp)
        acts[layer][0, :, y, x].sum().backward()
    nz = inp.grad[0].abs().sum(0).nonzero()
    return nz[:, 0].min().item(), nz[:, 0].max().item(), nz[:, 1].min().item(), nz[:, 1].max().item()


@pytest.mark.parametrize("model_fn, shape, layer", [
    (fashion_cnn, (1, 28, 28), "conv2"),
    (fashion_cnn, (1, 28, 28), "conv3"),
    (efficientnet_lite0, (3, 96, 96), "_blocks.3._depthwise_conv"),
])
def test_receptive_field_matches_gradient_support(model_fn, shape, layer):
    model = model_fn(pretrained=False)
    for m in model.modules():          # random BN statistics would not change the support; keep it simple
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    rf = next(r for r in receptive_fields(model, shape) if r.name == layer)
    y = x = rf.out_size // 2
    centre = rf.start + rf.jump * y
    lo, hi = int(centre - (rf.size - 1) / 2), int(centre + (rf.size - 1) / 2)
    r0, r1, c0, c1 = gradient_support(model, layer, shape, y, x)
    assert (r0, r1, c0, c1) == (lo, hi, lo, hi)


def test_receptive_fields_bad_shape():
    with pytest.raises(ValueError, match="input_shape"):
        receptive_fields(fashion_cnn(pretrained=False), (28, 28))


# ------------------------------------------------------------------ in-place operations after the layer
def inplace_fashion_cnn():
    """FashionCNN with ReLU(inplace=True) after each batch norm: the torchvision ResNet/VGG/AlexNet pattern."""
    torch.manual_seed(0)
    model = fashion_cnn(pretrained=False)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = True
    with torch.no_grad():   # batch-norm statistics that make bn4 negative in places (so relu4 differs)
        model.bn4.running_mean.normal_(0, 0.5)
        model.bn4.bias.normal_(0, 0.5)
    return model.eval()


def bn4_by_hand(model, x):
    """The bn4 output computed layer by layer, without any hook."""
    h = x
    for name, m in model.named_children():
        h = m(h.clone())
        if name == "bn4":
            return h


@pytest.mark.parametrize("detach", [True, False])
def test_capture_is_not_changed_by_a_later_inplace_relu(detach):
    model = inplace_fashion_cnn()
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with capture_activations(model, ["bn4", model.relu4], detach=detach) as acts:
        logits = model(x)
    expected = bn4_by_hand(model, x)
    assert (expected < 0).any()
    torch.testing.assert_close(acts["bn4"].detach(), expected)
    torch.testing.assert_close(acts[model.relu4].detach(), expected.clamp(min=0))   # modules work as keys
    torch.testing.assert_close(logits, fashion_cnn_plain(model)(x))                  # the forward pass unchanged


def fashion_cnn_plain(model):
    import copy
    plain = copy.deepcopy(model)
    for m in plain.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return plain


def test_capture_keeps_the_graph_of_the_layer_used_downstream():
    """detach=False: the recorded bn4 output is the tensor the rest of the network depends on."""
    model = inplace_fashion_cnn()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with capture_activations(model, "bn4", detach=False) as acts:
        score = model(x)[0, 3]
    (g,) = torch.autograd.grad(score, acts["bn4"])
    a = bn4_by_hand(model, x).requires_grad_(True)
    expected = model.fc(model.flatten(model.gap(torch.relu(a))))[0, 3]
    (g_hand,) = torch.autograd.grad(expected, a)
    torch.testing.assert_close(g, g_hand)


def test_torchvision_resnet_block_bn2_is_recorded_before_the_residual_add():
    """torchvision's BasicBlock does ``out = bn2(...); out += identity; out = relu(out)`` in place."""
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None).eval()
    block = model.layer1[0]
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with capture_activations(model, ["layer1.0.bn2", "maxpool"]) as acts:
        model(x)
    with torch.no_grad():
        h = acts["maxpool"]
        expected = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(h)))))
    torch.testing.assert_close(acts["layer1.0.bn2"], expected)


# ------------------------------------------------------------------------ run order, forward_to, layers
def test_modules_in_run_order():
    from course_utils.hooks import modules_in_run_order
    model = fashion_cnn(pretrained=False)
    runs = modules_in_run_order(model, (1, 28, 28))
    assert [r.name for r in runs] == [n for n, _ in model.named_children()]
    assert runs[0].output_shape == (1, 32, 28, 28) and runs[-1].output_shape == (1, 10)
    assert runs[3].module is model.pool1
    lite = efficientnet_lite0(pretrained=False)
    names = [r.name for r in modules_in_run_order(lite, torch.zeros(2, 3, 64, 64))]
    assert names.index("_blocks.0._depthwise_conv") < names.index("_blocks.0") < names.index("_blocks.1")
    assert names[-1] == "_fc" and n_hooks(lite) == 0


def test_forward_to_stops_after_the_layer():
    from course_utils.hooks import forward_to
    model = fashion_cnn(pretrained=False)
    ran = []
    handle = model.fc.register_forward_hook(lambda *a: ran.append(1))
    acts = forward_to(model, torch.rand(2, 1, 28, 28), model.relu2)
    handle.remove()
    assert acts["relu2"].shape == (2, 64, 14, 14) and not ran and n_hooks(model) == 0


def test_layers_as_modules():
    model = fashion_cnn(pretrained=False)
    assert get_layer(model, model.conv2) is model.conv2
    with pytest.raises(ValueError, match="layer: the module ReLU is not a submodule"):
        get_layer(model, nn.ReLU())
    with capture_activations(model, [model.conv1, "conv1"]) as acts:   # the same layer twice: recorded once
        model(torch.rand(1, 1, 28, 28))
    assert list(acts) == ["conv1"]
