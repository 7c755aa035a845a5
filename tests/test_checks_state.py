"""Every exercise check: passes the reference solution from solutions/, says "not implemented yet" to the
stub, and never changes the notebook — the global random generators (torch, NumPy, ``random``), grad mode
and default dtype come back as they were, its cases do not depend on the global generator, and a student
function that vandalises everything it receives is caught without spoiling the next run of the check.
"""
from __future__ import annotations

import functools
import random

import numpy as np
import pytest
import torch
from torch import nn

from students import EXERCISES

IDS = [ex.id for ex in EXERCISES]


def _global_state():
    return (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate(), torch.is_grad_enabled(),
            torch.get_default_dtype())


def _assert_same_state(before, after):
    assert torch.equal(before[0], after[0]), "the global torch generator changed"
    assert np.array_equal(before[1], after[1]), "NumPy's global generator changed"
    assert before[2] == after[2], "Python's random generator changed"
    assert before[3:] == after[3:], "grad mode or the default dtype changed"


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_reference_passes_stub_waits_and_the_global_state_is_kept(exercise):
    _seed_everything(2024)
    before = _global_state()
    result = exercise.run(exercise.solution())
    assert result.passed, result.message
    _assert_same_state(before, _global_state())
    stub = exercise.run(exercise.stub())
    assert stub.status == "not implemented" and "not implemented yet" in stub.message, stub.message
    _assert_same_state(before, _global_state())


def _fingerprint(x, depth=0):
    """Everything a case hands the student, by value (tensors, model weights, generator states)."""
    if isinstance(x, torch.Tensor):
        return ("tensor", x.detach().clone())
    if isinstance(x, nn.Module):
        return ("module", type(x).__name__, {k: v.detach().clone() for k, v in x.state_dict().items()})
    if isinstance(x, torch.Generator):
        return ("generator", x.get_state())
    if isinstance(x, (list, tuple)) and depth < 4:
        return tuple(_fingerprint(v, depth + 1) for v in x)
    if isinstance(x, dict) and depth < 4:
        return tuple((k, _fingerprint(v, depth + 1)) for k, v in x.items())
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    if hasattr(x, "__iter__") and depth < 4:               # the streaming check's replayable stream
        return ("iterable", tuple(_fingerprint(v, depth + 1) for v in x))
    return type(x).__name__


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a == b


def _quick_solution(exercise):
    """The reference solution; for the capstone (slow, and its answer known) the answer itself."""
    if exercise.function == "my_marker_positions":
        from course_utils.shortcut import MARKER_POSITIONS

        def my_marker_positions(model, images, labels):
            return {c: (y + 1, x + 1) for c, (y, x) in enumerate(MARKER_POSITIONS)}
        return my_marker_positions
    if exercise.function == "my_marker_dependent_classes":
        def my_marker_dependent_classes(model):
            return [4, 6]
        return my_marker_dependent_classes
    return exercise.solution()


def _recording(exercise, log):
    """The reference solution, logging the fingerprint of every call's arguments."""
    solution = _quick_solution(exercise)
    if isinstance(solution, type):                         # an autograd Function: record its forward input
        class Recorded(solution):
            @staticmethod
            def forward(ctx, x):
                log.append(_fingerprint(x))
                return solution.forward(ctx, x)
        return Recorded

    @functools.wraps(solution)
    def recorded(*args, **kwargs):
        log.append(_fingerprint((args, kwargs)))
        return solution(*args, **kwargs)
    return recorded


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_cases_do_not_depend_on_the_global_generator(exercise):
    """The arguments every case hands the student are the same whatever the notebook seeded."""
    logs = []
    for seed in (0, 1):
        _seed_everything(seed)
        before, log = _global_state(), []
        assert exercise.run(_recording(exercise, log)).passed
        _assert_same_state(before, _global_state())
        logs.append(log)
    assert logs[0] and len(logs[0]) == len(logs[1])
    assert all(_same(a, b) for a, b in zip(*logs)), "a case changed with the global seed"


def _vandalise(x, depth=0):
    """Change everything reachable in place: weights, modes, hooks, tensors, lists."""
    if isinstance(x, nn.Module):
        with torch.no_grad():
            for p in x.parameters():
                p.mul_(0.5)
        x.register_forward_hook(lambda *a: None)
        x.train(not x.training)
    elif isinstance(x, torch.Tensor) and (x.is_floating_point()) and x.numel():
        with torch.no_grad():
            x.add_(1.0)
    elif isinstance(x, list) and depth < 3:
        for v in x:
            _vandalise(v, depth + 1)
        x.reverse()
    elif isinstance(x, (tuple, dict)) and depth < 3:
        for v in (x.values() if isinstance(x, dict) else x):
            _vandalise(v, depth + 1)


def vandal(*args, **kwargs):
    for a in (*args, *kwargs.values()):
        _vandalise(a)
    return None


class VandalReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        torch.manual_seed(0)              # reseeds the notebook's generator: the check must undo it
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        torch.set_grad_enabled(False)
        return grad_output


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_a_vandal_is_caught_and_the_check_still_works_afterwards(exercise):
    student = VandalReLU if exercise.check_args else vandal
    _seed_everything(7)
    before = _global_state()
    result = exercise.run(student)
    assert result.status == "failed", result.message
    _assert_same_state(before, _global_state())
    again = exercise.run(_quick_solution(exercise))
    assert again.passed, "after a vandal the check fails the reference: " + again.message


TAKE_A_MODEL = {"record_activations", "gradient_support", "occlusion_map", "saliency_map", "input_times_gradient",
                "smoothgrad_with_noise", "guided_by_swapping", "integrated_gradients_riemann", "completeness_gap",
                "grad_cam_from_scratch", "counterfactual_grad_cam", "ascend_channel", "my_deletion_curve",
                "my_logits_without_channels", "embedding_saliency"}
MODEL_CHECKS = [ex for ex in EXERCISES if ex.function in TAKE_A_MODEL]


@pytest.mark.parametrize("exercise", MODEL_CHECKS, ids=[ex.id for ex in MODEL_CHECKS])
def test_a_function_that_changes_the_model_is_told_so(exercise):
    """The reference's answer with the model's weights (or hooks, or mode) changed afterwards still fails."""
    solution = exercise.solution()

    @functools.wraps(solution)                 # keeps the parameter names the messages use
    def sneaky(*args, **kwargs):
        out = solution(*args, **kwargs)
        model = next(a for a in args if isinstance(a, nn.Module))
        with torch.no_grad():
            next(model.parameters()).zero_()
        return out

    result = exercise.run(sneaky)
    assert result.status == "failed" and "changed the weights of `model`" in result.message, result.message


def test_the_capstone_model_and_images_are_fresh_for_every_call():
    from course_utils.checks import evaluation
    ex = next(e for e in EXERCISES if e.function == "my_marker_positions")
    seen = []

    def grabs_and_spoils(model, images, labels):
        seen.append((model, images))
        vandal(model, images, labels)
        return {c: (0, 0) for c in range(10)}

    assert not evaluation.check_marker_positions(grabs_and_spoils).passed
    assert not evaluation.check_marker_positions(grabs_and_spoils).passed
    (m1, x1), (m2, x2) = seen
    assert m1 is not m2 and x1.untyped_storage().data_ptr() != x2.untyped_storage().data_ptr()
    assert ex.run(_quick_solution(ex)).passed
