"""Fine-tune FashionCNN on 56×56 canvases (items at random positions); write data/models/localization_cnn.pt.

Lecture 10 measures whether attribution maps point at the item, whose box is known
(``course_utils.evaluation.make_localization_dataset``). The course's FashionCNN only scores ~25 % on such
canvases (its global average pool also averages the noisy background), so this script starts from its
weights (``data/models/fashion_cnn.pt``) and fine-tunes every layer on canvases made from training images.
Deterministic (fixed seeds, deterministic algorithms, 2 threads), CPU-only, about a minute on 2 cores.
Usage: python scripts/train_localization_cnn.py [--steps 150] [--out data/models/localization_cnn.pt]
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
from course_utils.evaluation import LOCALIZATION_CHECKPOINT, make_localization_dataset
from course_utils.models import fashion_cnn, record_checksum

TEST_SEED = 123        # the canvases the log's accuracy is measured on (tests use the same)


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    preds = torch.cat([model(images[i:i + 500]).argmax(1) for i in range(0, len(images), 500)])
    return (preds == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=LOCALIZATION_CHECKPOINT)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    gen = set_seed(args.seed)

    n_train = args.steps * args.batch_size
    images, labels = load_fashion_mnist("train")
    order = torch.randperm(len(images), generator=gen)[:n_train]
    canvases, labels, _ = make_localization_dataset(images[order], labels[order], seed=args.seed)
    test_images, test_labels = load_fashion_mnist("test")
    test = make_localization_dataset(test_images[:args.test_size], test_labels[:args.test_size], seed=TEST_SEED)[:2]

    model = fashion_cnn(pretrained=True)
    start_accuracy = accuracy(model, *test)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    start, total = time.time(), 0.0
    model.train()
    for step in range(args.steps):
        sl = slice(step * args.batch_size, (step + 1) * args.batch_size)
        x, y = canvases[sl], labels[sl]
        flip = torch.rand(len(x), generator=gen) < 0.5            # the item's position is already random
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item()
    result = {"train_loss": round(total / args.steps, 4), "canvas_accuracy_before": round(start_accuracy, 4),
              "canvas_accuracy": round(accuracy(model, *test), 4), "seconds": round(time.time() - start, 1)}
    print(json.dumps(result), flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.eval().state_dict(), args.out)
    record_checksum(args.out)            # data/models/SHA256SUMS, checked by every loader
    args.out.with_suffix(".log.json").write_text(json.dumps(
        {"script": "scripts/train_localization_cnn.py",
         "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
         "start": "data/models/fashion_cnn.pt", "test_canvases": f"first {args.test_size} test images, seed {TEST_SEED}",
         "torch": torch.__version__, "result": result}, indent=1) + "\n")
    print(f"wrote {args.out}: accuracy on test canvases {result['canvas_accuracy']:.4f} "
          f"(before fine-tuning {start_accuracy:.4f})")


if __name__ == "__main__":
    main()
