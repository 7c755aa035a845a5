"""Train FashionCNN on Fashion-MNIST and write data/models/fashion_cnn.pt and its training log.

Deterministic (fixed seeds, deterministic algorithms, 2 threads) and CPU-only; about 8 minutes on 2 cores.
Usage: python scripts/train_fashion_cnn.py [--epochs 8] [--out data/models/fashion_cnn.pt] [--save-epochs 0,1,2,5]

``--save-epochs`` also writes snapshots of the same run after the listed epochs (0 = the initial weights)
as ``fashion_cnn_epoch<E>.pt`` beside ``--out`` (``course_utils.models.fashion_cnn(epoch=E)`` loads them):
the learning-rate schedule is the full run's, so the last snapshot is the shipped model itself.
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
from course_utils.models import FASHION_CHECKPOINT, FashionCNN, record_checksum


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to 2 pixels (zero padding)."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = torch.randint(0, 5, (2,), generator=gen).tolist()   # one shift per batch keeps it vectorized
    return padded[..., dy:dy + 28, dx:dx + 28]


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    preds = torch.cat([model(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return (preds == labels).float().mean().item()


def train(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, test: tuple,
          epochs: int, seed: int, log: list, augment_fn=augment, on_epoch=None) -> None:
    """Adam with a one-cycle learning rate; appends one dict per epoch to ``log``.

    ``on_epoch(epoch, model)``, if given, is called after each epoch (1, 2, ...) with the model in eval mode.
    """
    gen = set_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (len(images) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for i in range(0, len(images) - 127, 128):
            idx = order[i:i + 128]
            loss = F.cross_entropy(model(augment_fn(images[idx], gen)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        entry = {"epoch": epoch + 1, "train_loss": round(total / (len(images) // 128), 4),
                 "test_accuracy": round(accuracy(model, *test), 4), "seconds": round(time.time() - start, 1)}
        log.append(entry)
        print(json.dumps(entry), flush=True)
        if on_epoch is not None:
            on_epoch(epoch + 1, model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=FASHION_CHECKPOINT)
    parser.add_argument("--save-epochs", type=lambda s: sorted({int(e) for e in s.split(",")}), default=[],
                        help="comma-separated epochs (0 = before training) to snapshot beside --out")
    args = parser.parse_args()
    if any(e < 0 or e > args.epochs for e in args.save_epochs):
        parser.error(f"--save-epochs must lie in 0..{args.epochs}, got {args.save_epochs}")
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    set_seed(args.seed)
    model = FashionCNN()
    log: list = []
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def snapshot(epoch: int, model: torch.nn.Module) -> None:
        if epoch in args.save_epochs:
            path = args.out.with_name(f"{args.out.stem}_epoch{epoch}.pt")
            torch.save(model.state_dict(), path)
            record_checksum(path)
            print(f"wrote {path}", flush=True)

    snapshot(0, model)
    test = load_fashion_mnist("test")
    if 0 in args.save_epochs:
        log_0 = {"epoch": 0, "train_loss": None, "test_accuracy": round(accuracy(model, *test), 4), "seconds": 0.0}
        print(json.dumps(log_0), flush=True)
        log.append(log_0)
    train(model, *load_fashion_mnist("train"), test, args.epochs, args.seed, log, on_epoch=snapshot)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.eval().state_dict(), args.out)
    record_checksum(args.out)            # data/models/SHA256SUMS, checked by every loader
    args.out.with_suffix(".log.json").write_text(json.dumps(
        {"script": "scripts/train_fashion_cnn.py",
         "args": {"epochs": args.epochs, "seed": args.seed, "save_epochs": args.save_epochs},
         "torch": torch.__version__, "epochs": log}, indent=1) + "\n")
    print(f"wrote {args.out} (test accuracy {log[-1]['test_accuracy']:.4f})")


if __name__ == "__main__":
    main()
