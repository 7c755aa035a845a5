"""The exercise-check machinery: messages for pass, stub, crash, the usual mistakes, dtypes, state, timing."""
import time

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.checks import Case, agree, compare, run_check, seeded


def reference(x):
    return x.abs().amax(1, keepdim=True)


def cases():
    g = torch.Generator().manual_seed(0)
    return [Case("1×3×4×4 random", (torch.randn(1, 3, 4, 4, generator=g),)),
            Case("2×3×5×5 random", (torch.randn(2, 3, 5, 5, generator=g),))]


def test_passes_on_reference():
    result = run_check("check_demo", reference, reference, cases())
    assert result.passed and bool(result) and "passed 2/2" in repr(result)


def test_stub_is_not_implemented_not_a_traceback():
    def stub(x):
        raise NotImplementedError("Exercise: write `stub`")
    result = run_check("check_demo", stub, reference, cases())
    assert result.status == "not implemented" and "not implemented yet" in result.message


def test_crash_reports_case_and_the_students_line():
    def broken(x):
        return x.foo()
    result = run_check("check_demo", broken, reference, cases(), hint="use .abs()")
    assert result.status == "failed" and "case 1/2" in result.message and "AttributeError" in result.message
    assert "`return x.foo()`" in result.message and "Hint: use .abs()" in result.message


def test_error_inside_torch_is_reported_at_the_students_line():
    def bad_shapes(x):
        kernel = torch.ones(1, 2, 3, 3)
        return torch.nn.functional.conv2d(x, kernel)          # 3 channels in, the kernel wants 2
    message = run_check("check_demo", bad_shapes, reference, cases()).message
    assert "return torch.nn.functional.conv2d(x, kernel)" in message, message
    assert "torch/" not in message and "raise " not in message


def test_known_torch_errors_get_a_hint():
    def no_grad(x):
        return torch.autograd.grad(x.sum(), x)[0]
    assert "requires_grad_(True)" in run_check("check_demo", no_grad, reference, cases()).message


def test_not_a_function():
    assert "expected a function" in run_check("c", 3, reference, cases()).message


@pytest.mark.parametrize("student, words", [
    (lambda x: reference(x) * torch.randn(reference(x).shape).sign(), "absolute value"),  # signs lost
    (lambda x: x.abs(), "reduce over the channel dimension"),     # forgot the reduction
    (lambda x: x.abs().sum(1, keepdim=True), "values differ"),    # sum instead of max
    (lambda x: 2 * reference(x), "times the expected"),           # extra factor
    (lambda x: reference(x).requires_grad_(True), "autograd graph"),
    (lambda x: reference(x).numpy(), "NumPy array"),
    (lambda x: reference(x) / 0 * 0, "NaN"),
    (lambda x: x.abs().amax(1), "a dimension of size 1 is missing"),
])
def test_diagnoses_usual_mistakes(student, words):
    result = run_check("check_demo", student, reference, cases())
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize("student, words", [
    (lambda x: reference(x).double(), "return float32"),
    (lambda x: reference(x).to(torch.complex64), "complex"),
    (lambda x: reference(x).half(), "too few digits"),
    (lambda x: reference(x).round().long(), "integer dtype"),
    (lambda x: reference(x) > 0.5, "booleans"),
    (lambda x: None, "returned None"),
])
def test_dtypes_and_none_are_named(student, words):
    result = run_check("check_demo", student, reference, cases())
    assert not result.passed and words in result.message, result.message
    assert "1 times" not in result.message


def test_float32_answer_to_a_float64_case_is_accepted():
    ref64 = lambda x: reference(x).double()                                   # noqa: E731
    assert run_check("check_demo", reference, ref64, cases()).passed


def test_a_mistake_is_named_only_where_it_differs_from_the_answer():
    # case 1: the mistake gives the right answer; case 2: it does not
    cs = [Case("positive", (torch.tensor([1.0, 2.0]),)), Case("mixed", (torch.tensor([-1.0, 2.0]),))]
    mistakes = {"you took an absolute value": lambda x: x.abs(), "you doubled it": lambda x: 2 * x}
    wrong = run_check("c", lambda x: x.abs(), lambda x: x.clone(), cs, mistakes=mistakes)
    assert "case 2/2" in wrong.message and "you took an absolute value" in wrong.message
    # an answer wrong on case 1 that matches no mistake gets the generic diagnosis, not a mistake's name
    other = run_check("c", lambda x: x + 1, lambda x: x.clone(), cs, mistakes=mistakes)
    assert "case 1/2" in other.message and "absolute" not in other.message and "doubled" not in other.message


def test_two_mistakes_alike_on_a_case_are_told_apart_by_the_next():
    # on case 1 (x ≥ 0) both mistakes give −x; case 2 decides
    cs = [Case("positive", (torch.tensor([1.0, 2.0]),)), Case("mixed", (torch.tensor([-1.0, 2.0]),))]
    mistakes = {"negated": lambda x: -x, "negated the ReLU": lambda x: -x.clamp(min=0)}
    result = run_check("c", lambda x: -x.clamp(min=0), lambda x: x.clamp(min=0), cs, mistakes=mistakes)
    assert "case 1/2" in result.message and "negated the ReLU" in result.message
    result = run_check("c", lambda x: -x, lambda x: x.clamp(min=0), cs, mistakes=mistakes)
    assert result.message.split(": ", 2)[-1].startswith("negated") and "ReLU" not in result.message


def test_attached_is_reported_before_any_mistake():
    cs = [Case("no overlap", (torch.tensor([1.0, 2.0]),))]
    mistakes = {"you summed overlapping windows": lambda x: x.clone()}      # equals the answer here
    result = run_check("c", lambda x: x.clone().requires_grad_(True), lambda x: x.clone(), cs, mistakes=mistakes)
    assert "autograd graph" in result.message and "overlapping" not in result.message


def _model():
    return seeded(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 16, 3)), 0).eval()


def _run(model, x):
    with torch.no_grad():
        return model(x)


def _state_cases():
    g = torch.Generator().manual_seed(1)
    return [Case("a model and an input", (_model(), torch.rand(2, 1, 6, 6, generator=g)))]


@pytest.mark.parametrize("vandal, words", [
    (lambda m, x: m[0].register_forward_hook(lambda *a: None), "forward hook(s) on '0'"),
    (lambda m, x: m.register_forward_pre_hook(lambda *a: None), "forward pre-hook(s)"),
    (lambda m, x: m[3].register_full_backward_hook(lambda *a: None), "backward hook(s) on '3'"),
    (lambda m, x: m.register_full_backward_pre_hook(lambda *a: None), "backward pre-hook(s)"),
    (lambda m, x: m.train(), "left `model` in training mode"),
    (lambda m, x: m[0].weight.requires_grad_(False), "requires_grad of the parameter '0.weight'"),
    (lambda m, x: m[3].bias.data.zero_(), "changed the weights of `model` (parameter '3.bias')"),
    (lambda m, x: setattr(m, "1", nn.Tanh()), "submodule '1' of `model` was replaced"),
    (lambda m, x: x.mul_(2), "modified `x` in place"),
    (lambda m, x: x.requires_grad_(True), "changed `x.requires_grad`"),
    (lambda m, x: torch.set_grad_enabled(False), "switched gradient tracking off"),
    (lambda m, x: torch.set_default_dtype(torch.float64), "changed the default dtype"),
])
def test_changes_to_the_arguments_are_named(vandal, words):
    def student(model, x):
        out = _run(model, x)
        vandal(model, x)
        return out
    result = run_check("c", student, _run, _state_cases())
    assert not result.passed and words in result.message, result.message
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32


def test_cases_that_share_an_object_are_a_bug_of_the_check():
    x = torch.rand(3)
    with pytest.raises(RuntimeError, match="share a tensor"):
        run_check("c", lambda t: t.clone(), lambda t: t.clone(), [Case("a", (x,)), Case("b", (x[1:],))])


def test_slow_function_gets_a_notice_with_its_time():
    def slow(x):
        time.sleep(1.1)
        return reference(x)
    result = run_check("check_demo", slow, reference, cases()[:1])
    assert result.passed and "⏱" in result.message and "s on case 1" in result.message
    assert "vectorize" in result.message
    assert "⏱" not in run_check("check_demo", reference, reference, cases()).message
    assert "⏱" not in run_check("check_demo", slow, slow, cases()[:1]).message      # as slow as the course's


def test_a_one_off_stall_is_timed_again_and_gets_no_notice():
    calls = []

    def stalls_once(x):          # the first call stalls (a busy machine, a first-use cost), later calls are quick
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.2)
        return reference(x)
    result = run_check("check_demo", stalls_once, reference, cases()[:1])
    assert result.passed and "⏱" not in result.message and len(calls) == 2, result.message


def test_compare_scalars_and_sequences():
    assert compare(1.0, 1.0 + 1e-9) is None
    assert "expected 1" in compare(1.0, 2.0)
    assert compare([1, (2.0, np.ones(2))], [1, (2.0, np.ones(2))]) is None
    assert compare([1, 2], [1, 3]) == "item [1]: expected 2, got 3"
    assert compare([(5, 1, 0.0)], [(9, 1, 0.0)]) == "item [0][0]: expected 5, got 9"
    assert "wrong sign" in compare(torch.ones(2), -torch.ones(2))
    assert "returned None" in compare(1.0, None) and "single number" in compare(1.0, torch.ones(2))
    assert agree(torch.ones(2), torch.ones(2, dtype=torch.float64).requires_grad_(True))
