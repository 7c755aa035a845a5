"""The lectures' explorers: a plain callback (tests call it directly) wired to controls.

``explorer(callback, **controls)`` is ``ipywidgets.interactive`` with one difference: where no live kernel
draws it (a committed notebook before the cell runs, the offline site, the RISE slideshow), it shows a
one-line note instead of the raw ``interactive(children=(...`` text.
"""
from __future__ import annotations

import time
import weakref
from typing import Callable

from ipywidgets import interactive

NOTE = ("Interactive explorer ({controls}): run this cell in JupyterLab's notebook view to use it "
        "(widgets are not live in the slideshow or the offline site).")


_CREATED: "weakref.WeakSet[Explorer]" = weakref.WeakSet()   # every explorer of this kernel, for time_explorers


class Explorer(interactive):
    """``interactive`` whose plain-text form is a note saying how to make it live."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.created = time.monotonic_ns()
        _CREATED.add(self)

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


def show_figure(fig) -> None:
    """Display ``fig`` (a ``matplotlib.figure.Figure`` that an explorer keeps and updates) as one PNG.

    An explorer that builds its figure once and then only changes its artists (``set_data``, ``set_clim``,
    ``set_text``) shows it with this instead of ``plt.show()``: the figure is drawn once on a canvas kept with
    it, at its own size and layout (the inline backend's ``savefig(bbox_inches="tight")`` draws it twice on a
    new canvas), encoded with fast PNG compression, and stays open for the next update. Make it with
    ``Figure(...)``, not ``plt.figure``, so that pyplot does not also show (and close) it.
    """
    import io

    import numpy as np
    from IPython.display import Image, display
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image as PILImage

    if not isinstance(fig, Figure):
        raise TypeError(f"fig: expected a matplotlib Figure, got {type(fig).__name__}")
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    buffer = io.BytesIO()
    PILImage.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).save(buffer, format="png", compress_level=1)
    display(Image(buffer.getvalue()))


def _other_values(control) -> list:
    """Up to three values of ``control`` other than its current one: options, or a slider's ends and middle."""
    options = getattr(control, "options", None)
    if options:
        values = [v[1] if isinstance(v, tuple) else v for v in options]
    elif isinstance(control.value, bool):
        values = [not control.value]
    elif hasattr(control, "min") and hasattr(control, "max"):
        low, high = control.min, control.max
        middle = (low + high) / 2
        values = [high, type(control.value)(middle) if isinstance(control.value, int) else middle, low]
    else:
        values = []
    return [v for v in dict.fromkeys(values) if v != control.value][:3]


def time_explorers() -> list[dict]:
    """Time every update of every explorer this kernel made, as a user moving each control would cause it.

    For each explorer (in the order they were made) and each of its controls, the control is set to up to three
    other values and back; each assignment runs the callback and draws its output, as in the live notebook.
    Returns one dict per explorer: ``controls`` (names), ``seconds`` (every update, in order).
    """
    report = []
    for w in sorted(_CREATED, key=lambda e: e.created):
        seconds = []
        for control in w.kwargs_widgets:
            start_value = control.value
            for value in [*_other_values(control), start_value]:
                start = time.perf_counter()
                control.value = value
                seconds.append(time.perf_counter() - start)
        report.append({"controls": [c.description for c in w.kwargs_widgets], "seconds": seconds})
    return report
