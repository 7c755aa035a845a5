"""Which padding and input normalization do the ported EfficientNet-Lite0 weights expect? Measure it.

The weights were trained in TensorFlow (TF-Lite models take (x - 127) / 128, i.e. mean 0.5, std 0.5 on [0, 1]
pixels, and "SAME" padding that pads stride-2 convolutions at the bottom/right only). PyTorch ports often use
symmetric padding and ImageNet's mean/std instead. This script evaluates all four combinations on the course
photos and prints the top-3 classes and the mean probability of the expected class; the course uses the
combination with the highest mean (recorded in course_utils/models.py, LITE0_MEAN/LITE0_STD).

Usage: python scripts/check_efficientnet_preprocessing.py   (about 20 s on 2 cores)
"""
from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import models as M
from course_utils.data import load_image

# photo → ImageNet classes that count as right (clear single-object photos only)
EXPECTED = {"cat": {"tabby", "tiger cat", "Egyptian cat"}, "coffee": {"espresso", "cup", "coffee mug"},
            "camera": {"tripod"}, "grace_hopper": {"military uniform"}, "motorcycle": {"moped", "motor scooter"},
            "rocket": {"missile", "projectile", "space shuttle"}}
NORMS = {"mean/std 0.5 (TF-Lite)": ((0.5,) * 3, (0.5,) * 3),
         "ImageNet mean/std": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (the extra row/column goes to the bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0,
                        self.dilation, self.groups)


def tf_same_padding(model: nn.Module) -> None:
    """Give every k×k convolution (k > 1) of ``model`` TensorFlow's "SAME" padding instead of k // 2."""
    for m in model.modules():
        if type(m) is nn.Conv2d and m.kernel_size[0] > 1:
            m.__class__ = Conv2dSame


def main() -> None:
    classes = M.imagenet_classes()
    images = {name: load_image(name) for name in EXPECTED}
    default = (M.LITE0_MEAN, M.LITE0_STD)
    results = {}
    for same, (norm_name, (mean, std)) in itertools.product([True, False], NORMS.items()):
        M.LITE0_MEAN, M.LITE0_STD = mean, std
        model = M.efficientnet_lite0()
        if same:
            tf_same_padding(model)
        label = f"{'TF SAME' if same else 'symmetric'} padding, {norm_name}"
        print(label)
        scores = []
        for name, img in images.items():
            with torch.no_grad():
                p = model(M.preprocess(img, model)).softmax(1)[0]
            top = p.topk(3)
            scores.append(sum(p[classes.index(c)].item() for c in EXPECTED[name]))
            print(f"  {name:13s}", ", ".join(f"{classes[i]} {v:.2f}" for v, i in zip(top.values, top.indices)))
        results[label] = sum(scores) / len(scores)
        print(f"  mean probability of the expected classes: {results[label]:.3f}")
    M.LITE0_MEAN, M.LITE0_STD = default
    best = max(results, key=results.get)
    print(f"\nbest: {best} ({results[best]:.3f}); the course uses symmetric padding with mean/std "
          f"{default[0][0]}/{default[1][0]}")


if __name__ == "__main__":
    main()
