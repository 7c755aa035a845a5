"""Progress bars for long loops: notebook-aware, and silent when ``enabled`` is False or under CI/tests."""
from __future__ import annotations

import os
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], enabled: bool = True, **kwargs) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar unless disabled (or ``COURSE_PROGRESS=0`` is set)."""
    if not enabled or os.environ.get("COURSE_PROGRESS", "1") == "0":
        return iterable
    return tqdm(iterable, leave=False, **kwargs)
