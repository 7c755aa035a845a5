"""The course's data, all shipped in ``data/`` and checked by SHA256.

* Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, MIT licence): ``load_fashion_mnist(split)``.
* A few natural photos (CC0 / public domain, from scikit-image and matplotlib): ``load_image(name)``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import torch

DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))
FASHION_DIR = DATA_DIR / "fashion-mnist"
IMAGE_DIR = DATA_DIR / "images"

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# SHA256 of the IDX files as shipped in data/ (copied from Debian's package dataset-fashion-mnist)
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


def sha256(path: Path) -> str:
    """Hex SHA256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _restore_hint(name: str) -> str:
    return (f"Restore it with `git checkout -- data/fashion-mnist/{name}` (it ships with the course), "
            "or copy it from Debian's package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/).")


def _download_with_torchvision(directory: Path) -> bool:
    """Where the files are absent and the user is online, fetch them with torchvision's downloader."""
    try:
        from torchvision.datasets import FashionMNIST
        FashionMNIST(str(directory / "_torchvision"), train=True, download=True)
        FashionMNIST(str(directory / "_torchvision"), train=False, download=True)
    except Exception:
        return False
    raw = directory / "_torchvision" / "FashionMNIST" / "raw"
    for name in FASHION_SHA256:
        (directory / name).write_bytes((raw / name).read_bytes())
    return True


def verify_fashion_mnist(directory: Path | None = None) -> None:
    """Raise ``FileNotFoundError``/``OSError`` naming the first missing or corrupt Fashion-MNIST file."""
    directory = Path(directory or FASHION_DIR)
    for name, expected in FASHION_SHA256.items():
        path = directory / name
        if not path.exists():
            raise FileNotFoundError(f"Fashion-MNIST file {path} is missing. {_restore_hint(name)}")
        if sha256(path) != expected:
            raise OSError(f"Fashion-MNIST file {path} is corrupt (its SHA256 does not match). "
                          f"{_restore_hint(name)}")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


_CACHE: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


def load_fashion_mnist(split: str = "test", directory: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as tensors: images N×1×28×28 float32 in [0, 1], labels N int64 in 0..9.

    ``split`` is ``"train"`` (60,000) or ``"test"`` (10,000). Files are checked against their SHA256;
    class names are ``FASHION_CLASSES``. Returns fresh tensors (safe to modify).
    """
    if not isinstance(split, str) or split not in FASHION_FILES:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    directory = Path(directory or FASHION_DIR)
    key = (str(directory), split)
    if key not in _CACHE:
        if not any((directory / n).exists() for n in FASHION_SHA256) and os.environ.get("CI") is None:
            _download_with_torchvision(directory)
        verify_fashion_mnist(directory)
        images_file, labels_file = FASHION_FILES[split]
        images = torch.from_numpy(_read_idx(directory / images_file).copy())
        labels = torch.from_numpy(_read_idx(directory / labels_file).astype(np.int64))
        _CACHE[key] = (images.unsqueeze(1), labels)
    images, labels = _CACHE[key]
    return images.float().div(255), labels.clone()


# ------------------------------------------------------------------------------------------------ photos
def image_checksums() -> dict[str, str]:
    """{file name: SHA256} of the course photos, from the table in data/images/PROVENANCE.md (the manifest)."""
    table = (IMAGE_DIR / "PROVENANCE.md").read_text()
    return dict(re.findall(r"^\| (\S+\.(?:png|jpg)) \| ([0-9a-f]{64}) \|$", table, re.M))


def _photo_restore_hint(file: str) -> str:
    return f"Restore it with `git checkout -- data/images/{file}` (it ships with the course)."


def list_images() -> list[str]:
    """Names of the course photos (those listed in data/images/PROVENANCE.md), e.g. ``"cat"``."""
    return sorted(Path(f).stem for f in image_checksums())


def load_image(name: str) -> np.ndarray:
    """A course photo as an H×W×3 uint8 array (values 0..255); ``name`` is one of ``list_images()``."""
    from PIL import Image
    if not isinstance(name, str):
        raise TypeError(f"name: expected an image name (str) such as 'cat', got {type(name).__name__}")
    files = {Path(f).stem: IMAGE_DIR / f for f in image_checksums()}
    if name not in files:   # an exact name: no glob patterns, no paths
        raise ValueError(f"name: unknown image {name!r}; available: {', '.join(sorted(files))}")
    if not files[name].exists():
        raise FileNotFoundError(f"photo {files[name]} is missing. {_photo_restore_hint(files[name].name)}")
    with Image.open(files[name]) as img:
        return np.asarray(img.convert("RGB")).copy()
