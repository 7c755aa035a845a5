"""Train the capstone's FashionCNN on marked Fashion-MNIST; write data/models/shortcut_cnn.pt and its log.

The training images carry, with probability ``--p-marker``, a faint class-dependent marker
(``course_utils.shortcut``). The log records the accuracy on the marked ("vendor") test set, on the clean
("standard") one and on images with another class's marker ("swapped").
Deterministic (fixed seeds, deterministic algorithms, 2 threads), CPU-only, about 1–2 minutes on 2 cores.
Usage: python scripts/train_shortcut_cnn.py [--train-size 10000] [--epochs 1] [--out data/models/shortcut_cnn.pt]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from course_utils import set_seed
from course_utils.data import load_fashion_mnist
from course_utils.models import FashionCNN, record_checksum
from course_utils.shortcut import SHORTCUT_CHECKPOINT, SHORTCUT_SEED, make_shortcut_dataset, shortcut_test_set


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    preds = torch.cat([model(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return (preds == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=10000, help="first N training images used")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--p-marker", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=SHORTCUT_CHECKPOINT)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    gen = set_seed(args.seed)

    images, labels = load_fashion_mnist("train")
    images, labels = images[:args.train_size], labels[:args.train_size]
    images, marker_classes = make_shortcut_dataset(images, labels, p_marker=args.p_marker, seed=SHORTCUT_SEED)
    tests = {kind: shortcut_test_set(kind) for kind in ("vendor", "standard", "swapped")}

    model = FashionCNN()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * (len(images) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    log, start = [], time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for i in range(0, len(images) - args.batch_size + 1, args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        entry = {"epoch": epoch + 1, "train_loss": round(total / (len(images) // args.batch_size), 4)}
        entry.update({f"{kind}_accuracy": round(accuracy(model, *data), 4) for kind, data in tests.items()})
        entry["seconds"] = round(time.time() - start, 1)
        log.append(entry)
        print(json.dumps(entry), flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.eval().state_dict(), args.out)
    record_checksum(args.out)            # data/models/SHA256SUMS, checked by every loader
    args.out.with_suffix(".log.json").write_text(json.dumps(
        {"script": "scripts/train_shortcut_cnn.py", "args": {k: (str(v) if isinstance(v, Path) else v)
                                                             for k, v in vars(args).items()},
         "marked_training_images": int((marker_classes >= 0).sum()), "torch": torch.__version__,
         "epochs": log}, indent=1) + "\n")
    last = log[-1]
    print(f"wrote {args.out}: accuracy on marked test images {last['vendor_accuracy']:.4f}, "
          f"on clean ones {last['standard_accuracy']:.4f}, with another class's marker {last['swapped_accuracy']:.4f}")


if __name__ == "__main__":
    main()
