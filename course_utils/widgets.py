"""The lectures' explorers: a plain callback (tests call it directly) wired to controls.

``explorer(callback, **controls)`` is ``ipywidgets.interactive`` with one difference: where no live kernel
draws it (a committed notebook before the cell runs, the offline site, the RISE slideshow), it shows a
one-line note instead of the raw ``interactive(children=(...`` text.
"""
from __future__ import annotations

from typing import Callable

from ipywidgets import interactive

NOTE = ("Interactive explorer ({controls}): run this cell in JupyterLab's notebook view to use it "
        "(widgets are not live in the slideshow or the offline site).")


class Explorer(interactive):
    """``interactive`` whose plain-text form is a note saying how to make it live."""

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.note
        return data

    @property
    def note(self) -> str:
        return NOTE.format(controls=", ".join(w.description for w in self.kwargs_widgets) or "no controls")


def explorer(callback: Callable, **controls) -> Explorer:
    """Controls wired to ``callback`` (called once with their default values, then on every change).

    Put it last in a cell to display it: ``explorer(show, index=IntSlider(0, 0, 99))``.
    """
    if not callable(callback):
        raise TypeError(f"callback: expected a function, got {type(callback).__name__}")
    return Explorer(callback, **controls)
