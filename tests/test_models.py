"""The two course models: structure for looking inside, strict loading, measured quality."""
import json

import pytest
import torch
from torch import nn

from course_utils.data import load_fashion_mnist, load_image
from course_utils.models import (FASHION_CHECKPOINT, efficientnet_lite0, fashion_cnn, imagenet_classes,
                                 preprocess, torchvision_model)


def test_fashion_cnn_is_built_for_inspection():
    model = fashion_cnn(pretrained=False)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == len(set(map(id, relus))) == 4
    assert model.conv1.kernel_size == (5, 5)
    assert any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert model.conv4.out_channels == 64 and isinstance(model.gap, nn.AdaptiveAvgPool2d)
    assert isinstance(model.fc, nn.Linear) and model.fc.in_features == 64
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_shipped_fashion_cnn_accuracy():
    assert FASHION_CHECKPOINT.stat().st_size < 2_000_000
    model = fashion_cnn()
    x, y = load_fashion_mnist("test")
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 2000]).argmax(1) for i in range(0, len(x), 2000)])
    acc = (pred == y).float().mean().item()
    log = json.loads(FASHION_CHECKPOINT.with_suffix(".log.json").read_text())
    assert acc >= 0.91, f"test accuracy {acc:.4f}"
    assert abs(acc - log["epochs"][-1]["test_accuracy"]) < 1e-3, "checkpoint and training log disagree"


def test_efficientnet_lite0_loads_strictly_with_relu6_modules():
    model = efficientnet_lite0()
    assert not model.training
    relu6 = [m for m in model.modules() if isinstance(m, nn.ReLU6)]
    assert len(relu6) == len(set(map(id, relu6))) == 2 + 15 * 2 + 1   # stem, blocks (block 0 has no expand), head
    assert sum(p.numel() for p in model.parameters()) == 4_652_008


@pytest.fixture(scope="module")
def lite0_top():
    model, classes = efficientnet_lite0(), imagenet_classes()

    def top(name, k=3):
        with torch.no_grad():
            p = model(preprocess(load_image(name), model)).softmax(1)[0]
        return [classes[i] for i in p.topk(k).indices]
    return top


def test_cat_photo_is_a_cat(lite0_top):
    assert lite0_top("cat", 1)[0] in {"tabby", "tiger cat", "Egyptian cat"}


def test_coffee_photo_is_espresso_or_cup(lite0_top):
    assert lite0_top("coffee", 1)[0] in {"espresso", "cup", "coffee mug"}


@pytest.mark.parametrize("name, expected", [("camera", "tripod"), ("grace_hopper", "military uniform"),
                                            ("motorcycle", "moped")])
def test_other_photos_top3(lite0_top, name, expected):
    assert expected in lite0_top(name)


def test_imagenet_classes():
    classes = imagenet_classes()
    assert len(classes) == 1000 and classes[285] == "Egyptian cat"
    from torchvision.models import ResNet18_Weights        # the shipped list is torchvision's, in its order
    assert classes == list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def test_torchvision_model_offline_message_or_model():
    with pytest.raises(ValueError, match="name"):
        torchvision_model("lenet")
    try:
        model = torchvision_model("resnet18")
    except RuntimeError as err:
        assert "efficientnet_lite0" in str(err)
    else:
        assert not model.training


# ------------------------------------------------------------------------------- checkpoint checksums
def test_shipped_checkpoints_match_their_checksums():
    from course_utils.models import CHECKPOINT_DIR, CHECKPOINT_SCRIPTS, read_checksums, verify_checkpoints
    table = read_checksums()
    assert set(table) == set(CHECKPOINT_SCRIPTS) == {p.name for p in CHECKPOINT_DIR.glob("*.pt")}
    assert [p.name for p in verify_checkpoints()] == sorted(table)


def _corrupt_copy(tmp_path, damage):
    from course_utils.models import CHECKPOINT_SUMS, read_checksums
    data = bytearray(FASHION_CHECKPOINT.read_bytes())
    path = tmp_path / "fashion_cnn.pt"
    path.write_bytes(bytes(damage(data)))
    (tmp_path / CHECKPOINT_SUMS).write_text(f"{read_checksums()['fashion_cnn.pt']}  fashion_cnn.pt\n")
    return path


def _flip(position):
    def damage(data):
        data[position] ^= 0x10
        return data
    return damage


@pytest.mark.parametrize("damage", [
    _flip(-5000),                          # one bit in the tensor data (loaded silently without a checksum)
    _flip(10),                             # one bit in the zip header (a UnicodeDecodeError without one)
    lambda data: data[:len(data) // 2],    # truncated (OSError Errno 22 without one)
], ids=["tensor bit", "header byte", "truncated"])
def test_damaged_checkpoint_names_the_file_and_how_to_restore_it(tmp_path, damage):
    from course_utils.models import CheckpointError, load_fashion_checkpoint, verify_checkpoints
    path = _corrupt_copy(tmp_path, damage)
    for call in (lambda: load_fashion_checkpoint(path, "train_fashion_cnn.py"), lambda: verify_checkpoints(tmp_path)):
        with pytest.raises(CheckpointError, match=r"fashion_cnn\.pt is corrupt.*git checkout -- data/models/"
                                                  r"fashion_cnn\.pt.*scripts/train_fashion_cnn\.py") as err:
            call()
        assert isinstance(err.value, ValueError)


def test_unreadable_checkpoint_without_checksums_is_a_clear_error(tmp_path):
    from course_utils.models import CheckpointError, load_fashion_checkpoint
    path = tmp_path / "mine.pt"
    path.write_bytes(FASHION_CHECKPOINT.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="mine.pt cannot be read as FashionCNN weights"):
        load_fashion_checkpoint(path, "train_fashion_cnn.py")
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="mine.pt cannot be read"):
        load_fashion_checkpoint(path, "train_fashion_cnn.py")


def test_missing_checkpoint_and_missing_checksum_list(tmp_path):
    from course_utils.models import load_fashion_checkpoint, record_checksum, verify_checkpoints
    with pytest.raises(FileNotFoundError, match="git checkout -- data/models/gone.pt"):
        load_fashion_checkpoint(tmp_path / "gone.pt", "train_fashion_cnn.py")
    with pytest.raises(FileNotFoundError, match="SHA256SUMS is missing"):
        verify_checkpoints(tmp_path)
    path = tmp_path / "fashion_cnn.pt"
    path.write_bytes(FASHION_CHECKPOINT.read_bytes())
    record_checksum(path)                                   # what the training scripts do after saving
    assert [p.name for p in verify_checkpoints(tmp_path)] == ["fashion_cnn.pt"]
    assert load_fashion_checkpoint(path, "train_fashion_cnn.py").fc.weight.shape == (10, 64)


# ------------------------------------------------------------------------------- training snapshots
def test_epoch_snapshots_are_the_shipped_run():
    """Epoch 0 is FashionCNN's initial weights under the script's seed; each snapshot reproduces the accuracy
    the training log recorded after that epoch; the final epoch is the shipped model itself."""
    from course_utils import set_seed
    from course_utils.models import FASHION_EPOCHS, FASHION_FINAL_EPOCH, FashionCNN
    log = json.loads(FASHION_CHECKPOINT.with_suffix(".log.json").read_text())
    set_seed(log["args"]["seed"])
    initial = FashionCNN().state_dict()
    assert all(torch.equal(v, initial[k]) for k, v in fashion_cnn(epoch=0).state_dict().items())
    final = fashion_cnn(epoch=FASHION_FINAL_EPOCH).state_dict()
    assert all(torch.equal(v, final[k]) for k, v in fashion_cnn().state_dict().items())
    x, y = load_fashion_mnist("test")
    recorded = {e["epoch"]: e["test_accuracy"] for e in log["epochs"]}
    for epoch in [e for e in FASHION_EPOCHS if e > 0]:
        model = fashion_cnn(epoch=epoch)
        assert not model.training
        with torch.no_grad():
            pred = torch.cat([model(x[i:i + 2000]).argmax(1) for i in range(0, len(x), 2000)])
        assert round((pred == y).float().mean().item(), 4) == pytest.approx(recorded[epoch], abs=2e-4), epoch


@pytest.mark.parametrize("kwargs, error", [({"epoch": True}, TypeError), ({"epoch": 1.0}, TypeError),
                                           ({"epoch": "1"}, TypeError), ({"epoch": 3}, ValueError),
                                           ({"epoch": -1}, ValueError), ({"epoch": 1, "pretrained": False}, ValueError)])
def test_fashion_cnn_epoch_bad_inputs_name_the_argument(kwargs, error):
    with pytest.raises(error, match="epoch"):
        fashion_cnn(**kwargs)


def test_torchvision_model_without_download_never_touches_the_network(tmp_path, monkeypatch):
    import urllib.request
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))          # an empty cache
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    with pytest.raises(RuntimeError, match="efficientnet_lite0"):
        torchvision_model("alexnet", download=False)
    with pytest.raises(TypeError, match="download"):
        torchvision_model("alexnet", download="no")


# --------------------------------------------------------------- conv + BatchNorm folded in eval mode (conv_bn)
def unfolded_lite0_logits(model, x):
    """Lite0's logits with every module called in turn: the reference conv_bn must equal."""
    h = model._stem_act(model._bn0(model._conv_stem(x)))
    for b in model._blocks:
        y = b._act0(b._bn0(b._expand_conv(h))) if b.expand else h
        y = b._bn2(b._project_conv(b._act1(b._bn1(b._depthwise_conv(y)))))
        h = y + h if b.skip else y
    h = model._head_act(model._bn1(model._conv_head(h)))
    return model._fc(model._avg_pooling(h).flatten(1))


def random_bn_statistics(model, seed=0):
    """Non-trivial BatchNorm parameters and statistics (a fresh BatchNorm is the identity map)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for t in (m.weight.data, m.bias.data, m.running_mean):
                t.copy_(torch.randn(t.shape, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def test_folded_lite0_equals_its_modules_called_in_turn():
    model = efficientnet_lite0()
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        folded, reference = model(x), unfolded_lite0_logits(model, x)
    assert torch.allclose(folded, reference, rtol=1e-4, atol=1e-4 * reference.abs().max())
    # the input gradient too (the methods' quantity), on random BatchNorm statistics
    model = random_bn_statistics(efficientnet_lite0(pretrained=False)).eval()
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    (g_folded,) = torch.autograd.grad(model(xs[0])[:, 3].sum(), xs[0])
    (g_reference,) = torch.autograd.grad(unfolded_lite0_logits(model, xs[1])[:, 3].sum(), xs[1])
    assert torch.allclose(g_folded, g_reference, rtol=1e-3, atol=1e-4 * g_reference.abs().max())


def test_conv_bn_is_the_conv_then_batchnorm_and_trains_the_same_weights():
    from course_utils.models import conv_bn
    g = torch.Generator().manual_seed(0)
    for groups, bias in [(1, False), (4, True)]:
        conv = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=groups, bias=bias)
        bn = random_bn_statistics(torch.nn.Sequential(torch.nn.BatchNorm2d(8, eps=1e-3))).eval()[0]
        x = torch.randn(3, 4, 9, 9, generator=g)
        folded = conv_bn(conv, bn, x)
        assert torch.allclose(folded, bn(conv(x)), atol=1e-5)
        # gradients reach the conv's and BatchNorm's parameters as through the two modules
        params = [conv.weight, bn.weight, bn.bias] + ([conv.bias] if bias else [])
        got = torch.autograd.grad(folded.square().sum(), params)
        expected = torch.autograd.grad(bn(conv(x)).square().sum(), params)
        for a, b in zip(got, expected):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_conv_bn_calls_the_modules_when_hooked_training_or_replaced():
    from course_utils.models import conv_bn
    model = efficientnet_lite0()
    x = torch.randn(1, 3, 64, 64)
    block = model._blocks[3]
    seen = []
    handles = [m.register_forward_hook(lambda m, i, o, name=name: seen.append(name))
               for name, m in [("conv", block._depthwise_conv), ("bn", block._bn1), ("head", model._bn1)]]
    with torch.no_grad():
        hooked = model(x)
    for h in handles:
        h.remove()
    assert seen == ["conv", "bn", "head"], "a hook on a conv or its BatchNorm must run"
    with torch.no_grad():
        assert torch.allclose(hooked, model(x), atol=1e-4)
    handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: seen.append(type(m).__name__))
    try:
        with torch.no_grad():
            model._blocks[0](torch.randn(1, 32, 8, 8))
    finally:
        handle.remove()
    assert "BatchNorm2d" in seen, "a global hook must see BatchNorm too"
    # training mode: BatchNorm uses the batch and updates its running statistics
    conv, bn = torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4)
    before = bn.running_mean.clone()
    out = conv_bn(conv, bn, torch.randn(5, 3, 4, 4) + 3)
    assert not torch.equal(bn.running_mean, before)
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(4), atol=1e-5)
    # a BatchNorm replaced in an experiment is called as it is
    assert torch.equal(conv_bn(conv, torch.nn.Identity(), x[:, :, :4, :4]), conv(x[:, :, :4, :4]))
