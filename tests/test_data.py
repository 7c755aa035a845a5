"""The shipped data: checksums, loader shapes and ranges, clear errors for missing/corrupt files, photos."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import data
from course_utils.models import deprocess, efficientnet_lite0, fashion_cnn, preprocess


def test_fashion_files_match_their_checksums():
    data.verify_fashion_mnist()
    sums = dict(line.split()[::-1] for line in (data.FASHION_DIR / "SHA256SUMS").read_text().splitlines())
    assert sums == data.FASHION_SHA256


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_load_fashion_mnist(split, n):
    x, y = data.load_fashion_mnist(split)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    assert y.shape == (n,) and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [n // 10] * 10          # Fashion-MNIST is balanced


def test_loader_returns_fresh_tensors():
    x, _ = data.load_fashion_mnist("test")
    x.zero_()
    assert data.load_fashion_mnist("test")[0].max() == 1.0


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        data.load_fashion_mnist("validation")


def _copy(tmp_path: Path) -> Path:
    for name in data.FASHION_SHA256:
        shutil.copy(data.FASHION_DIR / name, tmp_path / name)
    return tmp_path


def test_missing_file_names_it_and_how_to_restore(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")          # no download attempt
    d = _copy(tmp_path)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\.gz is missing.*git checkout"):
        data.load_fashion_mnist("test", directory=d)


def test_corrupt_file_names_it(tmp_path):
    d = _copy(tmp_path)
    with open(d / "t10k-images-idx3-ubyte.gz", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(OSError, match=r"t10k-images-idx3-ubyte\.gz is corrupt"):
        data.verify_fashion_mnist(d)


def test_photos_match_provenance_table():
    table = (data.IMAGE_DIR / "PROVENANCE.md").read_text()
    sums = dict(re.findall(r"^\| (\S+\.(?:png|jpg)) \| ([0-9a-f]{64}) \|$", table, re.M))
    files = sorted(p.name for p in data.IMAGE_DIR.iterdir() if p.suffix in {".png", ".jpg"})
    assert sorted(sums) == files and len(files) >= 8
    for name, digest in sums.items():
        assert data.sha256(data.IMAGE_DIR / name) == digest, name


def test_load_image_and_errors():
    names = data.list_images()
    assert {"cat", "coffee", "rocket", "grace_hopper"} <= set(names)
    img = data.load_image("cat")
    assert img.shape == (300, 451, 3) and img.dtype == np.uint8
    with pytest.raises(ValueError, match="available: astronaut"):
        data.load_image("dog")


def test_image_round_trip_through_model_preprocessing():
    lite0, cnn = efficientnet_lite0(pretrained=False), fashion_cnn(pretrained=False)
    img = data.load_image("coffee")
    x = preprocess(img, lite0)
    assert x.shape == (1, 3, 224, 224)
    back = deprocess(x, lite0)
    assert back.shape == (224, 224, 3) and back.dtype == np.uint8
    # the round trip reproduces the resized crop exactly up to 8-bit rounding
    assert np.abs(deprocess(preprocess(back, lite0), lite0).astype(int) - back.astype(int)).max() <= 1
    g = preprocess(img, cnn)
    assert g.shape == (1, 1, 28, 28) and 0 <= g.min() and g.max() <= 1
    assert deprocess(g, cnn).shape == (28, 28)


@pytest.mark.parametrize("bad, err", [(np.zeros((4, 4, 3), np.float32), TypeError),
                                       (np.zeros((4, 4, 4), np.uint8), ValueError)])
def test_preprocess_rejects_bad_images(bad, err):
    with pytest.raises(err, match="image"):
        preprocess(bad, fashion_cnn(pretrained=False))
