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
