"""The exercise-check machinery: messages for pass, stub, crash and the usual mistakes."""
import numpy as np
import pytest
import torch

from course_utils.checks import Case, compare, run_check


def reference(x):
    return x.abs().amax(1, keepdim=True)


CASES = [Case("1×3×4×4 random", (torch.randn(1, 3, 4, 4),)), Case("2×3×5×5 random", (torch.randn(2, 3, 5, 5),))]


def test_passes_on_reference():
    result = run_check("check_demo", reference, reference, CASES)
    assert result.passed and bool(result) and "passed 2/2" in repr(result)


def test_stub_is_not_implemented_not_a_traceback():
    def stub(x):
        raise NotImplementedError("Exercise: write `stub`")
    result = run_check("check_demo", stub, reference, CASES)
    assert result.status == "not implemented" and "not implemented yet" in result.message


def test_crash_reports_case_and_line():
    def broken(x):
        return x.foo()
    result = run_check("check_demo", broken, reference, CASES, hint="use .abs()")
    assert result.status == "failed" and "case 1/2" in result.message and "AttributeError" in result.message
    assert "Hint: use .abs()" in result.message


def test_not_a_function():
    assert "expected a function" in run_check("c", 3, reference, CASES).message


@pytest.mark.parametrize("student, words", [
    (lambda x: reference(x) * torch.randn(reference(x).shape).sign(), "absolute value"),  # signs lost
    (lambda x: x.abs(), "reduce over the channel dimension"),     # forgot the reduction
    (lambda x: x.abs().sum(1, keepdim=True), "values differ"),    # sum instead of max
    (lambda x: 2 * reference(x), "times the expected"),           # extra factor
    (lambda x: reference(x).requires_grad_(True), "autograd graph"),
    (lambda x: reference(x).numpy(), "expected a torch.Tensor"),
    (lambda x: reference(x) / 0 * 0, "NaN"),
])
def test_diagnoses_usual_mistakes(student, words):
    result = run_check("check_demo", student, reference, CASES)
    assert not result.passed and words in result.message, result.message


def test_compare_scalars_and_sequences():
    assert compare(1.0, 1.0 + 1e-9) is None
    assert "expected 1" in compare(1.0, 2.0)
    assert compare([1, (2.0, np.ones(2))], [1, (2.0, np.ones(2))]) is None
    assert "item 1" in compare([1, 2], [1, 3])
    assert "negative" not in (compare(torch.ones(2), -torch.ones(2)) or "") and "wrong sign" in compare(torch.ones(2), -torch.ones(2))
