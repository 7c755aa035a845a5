"""Time the course's heavy calls and print a table of seconds.

Usage: python scripts/benchmark.py [-k SUBSTRING ...] [--repeat R] [--threads T]

``BENCHMARKS`` maps a name to a zero-argument callable that does the work once. To add an entry, write such a
function and register it with ``BENCHMARKS["what, on what"] = fn``. Load models and inputs through cached
helpers listed in ``FIXTURES``: ``main`` calls those first, untimed, so loading never counts. Two entries named
``"<task> [batched]"`` and ``"<task> [naive]"`` also get a speed-up line.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import cache
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("COURSE_PROGRESS", "0")

BENCHMARKS: dict[str, Callable[[], object]] = {}
FIXTURES: list[Callable[[], object]] = []


# ---------------------------------------------------------------------------------------------- fixtures
@cache
def lite0():
    from course_utils.models import efficientnet_lite0
    return efficientnet_lite0()


@cache
def camera_224():
    """The camera photo at 224×224 for Lite0, and the class Lite0 predicts for it (tripod)."""
    from course_utils.data import load_image
    from course_utils.models import preprocess
    x = preprocess(load_image("camera"), lite0())
    with torch.no_grad():
        return x, int(lite0()(x).argmax())


FIXTURES += [lite0, camera_224]


# --------------------------------------------------------------------------------- occlusion and bubbles
# Lite0 at 224×224 on a CPU: the cost per image grows with the batch (activations of big batches no longer fit
# in the cache), so a small batch is fastest; entries time batch 8 and batch 32 against the one-window loop.
def occlusion_lite0(batch_size):
    def run():
        from course_utils.attribution import occlusion
        x, target = camera_224()
        return occlusion(lite0(), x, target, window=16, stride=8, batch_size=batch_size)
    return run


def occlusion_lite0_naive():
    """The same 27×27 = 729 windows, one forward pass per window in a Python loop."""
    from course_utils.attribution import window_positions
    x, target = camera_224()
    model, h = lite0(), x.shape[-1]
    drops = torch.zeros(h, h)
    count = torch.zeros(h, h)
    with torch.no_grad():
        base = model(x)[0, target]
        for top in window_positions(h, 16, 8):
            for left in window_positions(h, 16, 8):
                occluded = x.clone()
                occluded[..., top:top + 16, left:left + 16] = 0
                drops[top:top + 16, left:left + 16] += base - model(occluded)[0, target]
                count[top:top + 16, left:left + 16] += 1
    return drops / count


def bubbles_lite0():
    from course_utils.attribution import bubbles
    x, target = camera_224()
    return bubbles(lite0(), x, target, n_masks=200, n_bubbles=10, sigma=14.0, batch_size=8)


BENCHMARKS["occlusion: Lite0 224², window 16, stride 8, 729 windows, automatic batch (4) [batched]"] = \
    occlusion_lite0(None)
BENCHMARKS["occlusion: Lite0 224², window 16, stride 8, 729 windows, automatic batch (4) [naive]"] = \
    occlusion_lite0_naive
BENCHMARKS["occlusion: Lite0 224², window 16, stride 8, 729 windows, batch 32"] = occlusion_lite0(32)
BENCHMARKS["bubbles: Lite0 224², 200 masks of 10 bubbles, batch 8"] = bubbles_lite0


# ------------------------------------------------------------------ deletion / insertion curves (lecture 10)
@cache
def camera_saliency():
    """A fixed attribution map for the camera photo (plain saliency), computed once, untimed."""
    from course_utils.attribution import saliency
    x, target = camera_224()
    return saliency(lite0(), x, target)


@cache
def fashion_batch():
    """64 Fashion-MNIST test images, FashionCNN and a saliency map for each, computed once, untimed."""
    from course_utils.attribution import saliency
    from course_utils.data import load_fashion_mnist
    from course_utils.models import fashion_cnn
    images, labels = load_fashion_mnist("test")
    model = fashion_cnn()
    return model, images[:64], labels[:64], saliency(model, images[:64], labels[:64])


FIXTURES += [camera_saliency, fashion_batch]


def deletion_lite0(batch_size):
    def run():
        from course_utils.evaluation import deletion_curve, probability
        x, target = camera_224()
        return deletion_curve(lite0(), x, camera_saliency(), probability(target), steps=20, batch_size=batch_size)
    return run


def deletion_lite0_naive():
    """The same 21 images, one forward pass per step in a Python loop."""
    from course_utils.evaluation import pixel_order
    x, target = camera_224()
    order = pixel_order(camera_saliency())[0]
    h, w = x.shape[-2:]
    black = (0 - 0.5) / 0.5
    scores = []
    with torch.no_grad():
        for k in range(21):
            img = x.clone().flatten(2)
            img[..., order[:(k * h * w) // 20]] = black
            scores.append(lite0()(img.view_as(x)).softmax(1)[0, target])
    return torch.stack(scores)


def insertion_lite0():
    from course_utils.evaluation import insertion_curve, probability
    x, target = camera_224()
    return insertion_curve(lite0(), x, camera_saliency(), probability(target), steps=20, batch_size=21)


def deletion_insertion_fashion():
    from course_utils.evaluation import deletion_curve, insertion_curve, probability
    model, images, labels, maps = fashion_batch()
    deletion_curve(model, images, maps, probability(labels), steps=20, batch_size=256)
    return insertion_curve(model, images, maps, probability(labels), steps=20, batch_size=256)


BENCHMARKS["deletion curve: Lite0 224², 20 steps, automatic batch (4) [batched]"] = deletion_lite0(None)
BENCHMARKS["deletion curve: Lite0 224², 20 steps, automatic batch (4) [naive]"] = deletion_lite0_naive
BENCHMARKS["deletion curve: Lite0 224², 20 steps, batch 21"] = deletion_lite0(21)
BENCHMARKS["insertion curve: Lite0 224², 20 steps (blurred start), batch 21"] = insertion_lite0
BENCHMARKS["deletion + insertion: FashionCNN, 64 images × 21 steps, batch 256"] = deletion_insertion_fashion


# ------------------------------------------------------------- integrated gradients, Grad-CAM (lectures 06, 07)
def integrated_gradients_lite0(batch_size):
    def run():
        from course_utils.attribution import integrated_gradients
        x, target = camera_224()
        return integrated_gradients(lite0(), x, target, baseline="black", steps=64, rule="gauss_legendre",
                                    batch_size=batch_size)
    return run


def integrated_gradients_lite0_naive():
    """The same 64 Gauss–Legendre nodes, one forward and backward pass per node in a Python loop."""
    from course_utils.attribution import quadrature
    x, target = camera_224()
    model, black = lite0(), torch.full_like(x, (0 - 0.5) / 0.5)
    alphas, weights = quadrature(64, "gauss_legendre")
    total = torch.zeros_like(x)
    for a, w in zip(alphas.tolist(), weights.tolist()):
        point = (black + a * (x - black)).requires_grad_(True)
        (g,) = torch.autograd.grad(model(point)[0, target], point)
        total += w * g
    return (x - black) * total


def grad_cam_lite0(layer):
    def run():
        from course_utils.attribution import grad_cam
        x, target = camera_224()
        return grad_cam(lite0(), x, target, layer=layer)
    return run


BENCHMARKS["integrated gradients: Lite0 224², 64 steps, automatic batch (4 rows) [batched]"] = \
    integrated_gradients_lite0(None)
BENCHMARKS["integrated gradients: Lite0 224², 64 steps, automatic batch (4 rows) [naive]"] = \
    integrated_gradients_lite0_naive
BENCHMARKS["integrated gradients: Lite0 224², 64 steps, batch 32"] = integrated_gradients_lite0(32)
BENCHMARKS["grad_cam: Lite0 224², 1 image, layer _head_act"] = grad_cam_lite0("_head_act")
BENCHMARKS["grad_cam: Lite0 224², 1 image, layer _blocks.10"] = grad_cam_lite0("_blocks.10")


@cache
def course_photos_224():
    """Every photo the course ships (data.list_images) at 224×224 for Lite0, and the class Lite0 predicts."""
    from course_utils.data import list_images, load_image
    from course_utils.models import preprocess
    names = list_images()
    x = torch.cat([preprocess(load_image(name), lite0()) for name in names])
    with torch.no_grad():
        return names, x, lite0()(x).argmax(1)


@cache
def photo_crops_224():
    """27 held-out images for the rules chosen on the nine photos: 3 random crops of each photo (every other one
    mirrored; ``probing.photo_crops``, seed 0), and the class Lite0 predicts for each."""
    from course_utils.probing import photo_crops
    x, names = photo_crops(lite0(), crops_per_image=3, seed=0)
    crops = [i for i, name in enumerate(names) if " crop " in name]
    x = x[crops]
    with torch.no_grad():
        return [names[i] for i in crops], x, torch.cat([lite0()(x[i:i + 8]).argmax(1) for i in range(0, len(x), 8)])


FIXTURES += [course_photos_224, photo_crops_224]


def ig_completeness_photos(rule, steps, images=course_photos_224):
    """Completeness error |Σ IG − ΔF| / |ΔF| of one rule at ``steps`` gradients on each of ``images`` (a fixture:
    the course photos, or the held-out crops; black baseline, predicted class), all in one call; prints the
    errors, the worst and the median, and the time per map."""
    def run():
        from course_utils.attribution import integrated_gradients, make_baseline
        names, x, target = images()
        start = time.perf_counter()
        _, err, path = integrated_gradients(lite0(), x, target, baseline="black", steps=steps, rule=rule,
                                            return_error=True, return_path=True)
        per_map = (time.perf_counter() - start) / len(x)
        with torch.no_grad():
            change = (lite0()(x) - lite0()(make_baseline("black", x, lite0()))).gather(1, target[:, None])[:, 0]
        rel = (err.abs() / change.abs()).tolist()
        scan = f" + {path.forward_evaluations} forward-only" if path.forward_evaluations else ""
        print(f"  {rule} {path.gradient_evaluations} gradients{scan}: completeness error "
              + ", ".join(f"{n} {100 * e:.1f} %" for n, e in zip(names, rel))
              + f"; worst {100 * max(rel):.1f} %, median {100 * statistics.median(rel):.1f} %; {per_map:.2f} s per map",
              flush=True)
    return run


for _steps in (16, 32, 64, 96):
    for _rule in ("trapezoid", "gauss_legendre", "adaptive", "adaptive_simpson", "adaptive_trapezoid"):
        BENCHMARKS[f"integrated gradients completeness: {_rule}, {_steps} gradients, course photos"] = \
            ig_completeness_photos(_rule, _steps)
for _rule in ("gauss_legendre", "adaptive", "adaptive_simpson", "adaptive_trapezoid"):
    BENCHMARKS[f"integrated gradients completeness: {_rule}, 64 gradients, 27 held-out photo crops"] = \
        ig_completeness_photos(_rule, 64, photo_crops_224)


def ig_completeness_budgets(rule, photo="cat", budgets=range(40, 97, 8)):
    """The signed completeness error (Σ IG − ΔF) / ΔF on one photo at each of ``budgets`` gradients: whether a
    figure at one budget is typical of the budgets around it."""
    def run():
        from course_utils.attribution import integrated_gradients, make_baseline
        names, x, target = course_photos_224()
        i = names.index(photo)
        x, target = x[i:i + 1], target[i:i + 1]
        with torch.no_grad():
            change = (lite0()(x) - lite0()(make_baseline("black", x, lite0())))[0, target[0]]
        parts = []
        for steps in budgets:
            _, err, path = integrated_gradients(lite0(), x, target, baseline="black", steps=steps, rule=rule,
                                                return_error=True, return_path=True)
            parts.append(f"{path.gradient_evaluations} {100 * float(err[0] / change):+.2f} %")
        print(f"  {rule} on the {photo}, gradients and signed completeness error: " + ", ".join(parts), flush=True)
    return run


for _rule in ("gauss_legendre", "adaptive_simpson"):
    BENCHMARKS[f"integrated gradients completeness: {_rule}, 40 to 96 gradients, cat"] = \
        ig_completeness_budgets(_rule)


def _relative_distance(maps: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """‖map − reference‖ / ‖reference‖ per input (N×… → N), in float64."""
    maps, reference = maps.double().flatten(1), reference.double().flatten(1)
    return (maps - reference).norm(dim=1) / reference.norm(dim=1)


IG_PIXEL_RULES = ("trapezoid", "gauss_legendre", "adaptive", "adaptive_simpson", "adaptive_trapezoid")


def ig_pixel_errors_photo(photo, budgets=(64, 96)):
    """Each rule's map against reference maps, pixel by pixel, beside its completeness error: whether a rule
    that makes the sum right also makes the map right. Two references, each rule's distance to both:
    Gauss–Legendre with 1024 gradients and adaptive Simpson with 1023 (their distance to each other is printed:
    how far the references themselves can be trusted)."""
    def run():
        from course_utils.attribution import integrated_gradients, make_baseline
        names, x, target = course_photos_224()
        i = names.index(photo)
        x, target = x[i:i + 1], target[i:i + 1]
        with torch.no_grad():
            change = float((lite0()(x) - lite0()(make_baseline("black", x, lite0())))[0, target[0]])

        def ig(rule, steps):
            maps, err, path = integrated_gradients(lite0(), x, target, steps=steps, rule=rule,
                                                   return_error=True, return_path=True)
            return maps, 100 * float(err[0]) / change, path.gradient_evaluations

        gl, _, n_gl = ig("gauss_legendre", 1024)
        simpson, _, n_simpson = ig("adaptive_simpson", 1024)
        print(f"  {photo}: references Gauss-Legendre {n_gl} and adaptive Simpson {n_simpson} gradients, "
              f"{100 * float(_relative_distance(simpson, gl)[0]):.2f} % apart")
        for steps in budgets:
            parts = []
            for rule in IG_PIXEL_RULES:
                maps, err, n = ig(rule, steps)
                far = [100 * float(_relative_distance(maps, r)[0]) for r in (gl, simpson)]
                parts.append(f"{rule} {n}: completeness {err:+.2f} %, map {far[0]:.2f} / {far[1]:.2f} %")
            print("    (map: distance to the two references) " + "; ".join(parts), flush=True)
    return run


def ig_pixel_errors_images(images, steps=64, rules=("gauss_legendre", "adaptive_simpson", "adaptive_trapezoid")):
    """Each rule's map at ``steps`` gradients against a 1024-node Gauss–Legendre map, on every image of
    ``images`` (the course photos, or the held-out crops): the distance per image, the worst and the median."""
    def run():
        from course_utils.attribution import integrated_gradients
        names, x, target = images()
        reference = torch.cat([integrated_gradients(lite0(), x[i:i + 1], target[i:i + 1], steps=1024)
                               for i in range(len(x))])
        for rule in rules:
            dist = 100 * _relative_distance(integrated_gradients(lite0(), x, target, steps=steps, rule=rule), reference)
            print(f"  {rule} {steps}: map against Gauss-Legendre 1024, "
                  + ", ".join(f"{n} {d:.1f} %" for n, d in zip(names, dist.tolist()))
                  + f"; worst {float(dist.max()):.1f} %, median {float(dist.median()):.1f} %", flush=True)
    return run


def ig_pixel_errors_fashion(n_images=128, budgets=(8, 16, 32, 64)):
    """The same on FashionCNN, ``n_images`` test images with their labels as targets: median and largest
    completeness error and distance to a 1024-step Gauss–Legendre map, per rule and budget."""
    def run():
        from course_utils.attribution import integrated_gradients
        from course_utils.data import load_fashion_mnist
        from course_utils.models import fashion_cnn
        images, labels = load_fashion_mnist("test")
        x, y, model = images[:n_images], labels[:n_images], fashion_cnn()
        with torch.no_grad():
            change = (model(x) - model(torch.zeros_like(x))).gather(1, y[:, None])[:, 0].abs()
        reference = integrated_gradients(model, x, y, steps=1024)
        check = integrated_gradients(model, x, y, steps=1024, rule="adaptive_simpson")
        print(f"  FashionCNN, {n_images} images: adaptive Simpson 1023 differs from the reference (Gauss-Legendre "
              f"1024) by a median {100 * float(_relative_distance(check, reference).median()):.2f} %")
        for steps in budgets:
            parts = []
            for rule in IG_PIXEL_RULES:
                maps, err = integrated_gradients(model, x, y, steps=steps, rule=rule, return_error=True)
                rel, dist = err.abs() / change, _relative_distance(maps, reference)
                parts.append(f"{rule}: completeness {100 * float(rel.median()):.2f} / {100 * float(rel.max()):.2f} %, "
                             f"map {100 * float(dist.median()):.2f} / {100 * float(dist.max()):.2f} %")
            print(f"    {steps} steps (median / largest): " + "; ".join(parts), flush=True)
    return run


for _photo in ("cat", "chessboard"):
    BENCHMARKS[f"integrated gradients, map against 1024-gradient references: each rule at 64 and 96, {_photo}"] = \
        ig_pixel_errors_photo(_photo)
BENCHMARKS["integrated gradients, map against a 1024-step reference: each rule at 8 to 64 steps, FashionCNN"] = \
    ig_pixel_errors_fashion()
BENCHMARKS["integrated gradients, map against a 1024-gradient reference at 64 gradients: course photos"] = \
    ig_pixel_errors_images(course_photos_224)
BENCHMARKS["integrated gradients, map against a 1024-gradient reference at 64 gradients: 27 held-out photo crops"] = \
    ig_pixel_errors_images(photo_crops_224)


# ------------------------------------------------------------------------- feature visualization (lecture 08)
@cache
def best_crop_blocks14_95():
    """The largest mean activation of Lite0 _blocks.14 channel 95 over the 36 photo crops of lecture 08."""
    from course_utils.probing import photo_crops, top_k_examples
    photos, _ = photo_crops(lite0(), crops_per_image=3, seed=0)
    return top_k_examples(lite0(), "_blocks.14", photos, k=1, reduce="mean", progress=False).top.values[95, 0].item()


FIXTURES += [best_crop_blocks14_95]


def featureviz_lite0_channel():
    """One channel rendered as in lecture 08 (Fourier + decorrelation + standard transforms), 256 Adam steps."""
    from course_utils import featureviz as fv
    objective = fv.channel("_blocks.14", 95)
    image = fv.render(lite0(), objective, fv.FourierImage(1, 3, 128), steps=256, lr=0.15,
                      transforms=fv.standard_transforms(128), show_progress=False)
    reached = fv.evaluate(lite0(), objective, image).item()
    print(f"    reached activation {reached:.1f}, best of 36 photo crops {best_crop_blocks14_95():.1f} "
          f"(ratio {reached / best_crop_blocks14_95():.1f})")
    return image


BENCHMARKS["feature visualization: Lite0 _blocks.14 ch 95, 128², 256 steps"] = featureviz_lite0_channel


# ------------------------------------------------------------ gradients, guided backprop (lectures 04, 05)
def saliency_lite0():
    from course_utils.attribution import saliency
    x, target = camera_224()
    return saliency(lite0(), x, target)


def smoothgrad_lite0_batched():
    from course_utils.attribution import smoothgrad
    x, target = camera_224()
    return smoothgrad(lite0(), x, target, noise_level=0.15, n_samples=32, batch_size=16, seed=0)


def smoothgrad_lite0_naive():
    """The same 32 noisy copies, one forward and backward pass per copy in a Python loop."""
    from course_utils.attribution import noise_scale
    x, target = camera_224()
    noise = torch.randn((32, *x.shape[1:]), generator=torch.Generator().manual_seed(0))
    sigma, total = noise_scale(x, 0.15), torch.zeros_like(x)
    for s in range(32):
        noisy = (x + sigma * noise[s:s + 1]).requires_grad_(True)
        (g,) = torch.autograd.grad(lite0()(noisy)[0, target], noisy)
        total += g
    return total / 32


def guided_backprop_lite0():
    from course_utils.attribution import guided_backprop
    x, target = camera_224()
    return guided_backprop(lite0(), x, target)


BENCHMARKS["saliency: Lite0 224², 1 image"] = saliency_lite0
BENCHMARKS["smoothgrad: Lite0 224², 32 samples, batch 16 [batched]"] = smoothgrad_lite0_batched
BENCHMARKS["smoothgrad: Lite0 224², 32 samples, batch 16 [naive]"] = smoothgrad_lite0_naive
BENCHMARKS["guided_backprop: Lite0 224², 1 image (33 ReLU6 guided)"] = guided_backprop_lite0


# ------------------------------------------------------------------------------ Neuron Shapley (lecture 09)
@cache
def fashion_shapley_games():
    """FashionCNN's 64 relu4 channels as players: accuracy on 2,000 test images, mean removal (lecture 09)."""
    from course_utils import shapley as sh
    from course_utils.data import load_fashion_mnist
    from course_utils.models import fashion_cnn
    model = fashion_cnn()
    images, labels = load_fashion_mnist("test")
    means = sh.channel_means(model, "relu4", images[2000:4000])
    game = sh.LayerGame(model, "gap", images[:2000], labels[:2000], removal=means.mean((1, 2)))
    coalitions = torch.rand(64, 64, generator=torch.Generator().manual_seed(0)) < 0.5
    return model, images[:2000], labels[:2000], means, game, coalitions


FIXTURES += [fashion_shapley_games]


def shapley_value_batched():
    return fashion_shapley_games()[4](fashion_shapley_games()[5])


def shapley_value_naive():
    """The same 64 coalitions, one full forward pass of the model per coalition with a removal hook."""
    from course_utils.shapley import removed_channels
    model, x, y, means, _, coalitions = fashion_shapley_games()
    values = []
    with torch.no_grad():
        for keep in coalitions:
            with removed_channels(model, "relu4", ~keep, replacement=means):
                values.append((model(x).argmax(1) == y).double().mean())
    return torch.stack(values)


def shapley_truncated_mc():
    from course_utils.shapley import permutation_shapley
    return permutation_shapley(fashion_shapley_games()[4], n_permutations=160, truncation=0.02, direction="add",
                               block=16, seed=0, show_progress=False)


def shapley_tmab(adaptive: bool, k: int, cls: int | None, max_permutations: int, players: int = 64):
    """Top-k search (guaranteed range, no truncation); prints evaluations and why it stopped."""
    from course_utils.shapley import LayerGame, tmab_shapley
    _, _, y, _, game, _ = fashion_shapley_games()
    g = game if cls is None else game.restrict(y == cls)
    if players < 64:                                   # the first channels as players, the others removed
        g = LayerGame(game.model, "gap", None, game.labels, activations=game.activations, removal=game.fill.flatten(),
                      players=list(range(players)), others="remove")
    r = tmab_shapley(g, k=k, block=128, chunk=64, max_permutations=max_permutations, adaptive=adaptive, seed=0,
                     show_progress=False)
    print(f"    {r.method}: {r.n_evaluations} evaluations, {r.n_permutations} permutations, top {k} "
          f"{sorted(r.top(k).tolist())}; {r.stop_reason}")
    return r


BENCHMARKS["shapley value function: 64 coalitions of relu4 channels, 2,000 images [batched]"] = shapley_value_batched
BENCHMARKS["shapley value function: 64 coalitions of relu4 channels, 2,000 images [naive]"] = shapley_value_naive
BENCHMARKS["shapley: truncated Monte Carlo, 64 channels, 160 permutations"] = shapley_truncated_mc
BENCHMARKS["shapley: top-3 of the first 10 channels (exact route: 1,024 coalitions)"] = \
    lambda: shapley_tmab(True, 3, None, 5000, players=10)
BENCHMARKS["shapley: TMAB top-2 channels for 'Coat' (219 images, certified)"] = lambda: shapley_tmab(True, 2, 4, 8192)
BENCHMARKS["shapley: Monte Carlo to TMAB's stopping rule, top-2 for 'Coat'"] = lambda: shapley_tmab(False, 2, 4, 8192)
BENCHMARKS["shapley: TMAB top-10 of 64 channels (no gap at the boundary: stops at the cap, 256 permutations)"] = \
    lambda: shapley_tmab(True, 10, None, 256)


# -------------------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", nargs="*", default=[], help="only entries whose name contains one of these")
    parser.add_argument("--repeat", type=int, default=1, help="run each entry R times, report the fastest")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {n: f for n, f in BENCHMARKS.items() if not args.k or any(k.lower() in n.lower() for k in args.k)}
    if not chosen:
        print("no benchmark matches", args.k, file=sys.stderr)
        return 1
    for fixture in FIXTURES:
        fixture()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at start")
    width = max(map(len, chosen))
    seconds: dict[str, float] = {}
    for name, fn in chosen.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        seconds[name] = min(times)
        print(f"{name:<{width}}  {seconds[name]:8.2f} s", flush=True)
    for name, s in seconds.items():
        if name.endswith("[naive]") and (batched := name[:-len("[naive]")] + "[batched]") in seconds:
            print(f"speed-up of {batched[:-len(' [batched]')]}: {s / seconds[batched]:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
