"""The explorer helper: a plain callback wired to controls, with an honest note where it is not live."""
import pytest
from ipywidgets import Dropdown, IntSlider

from course_utils.widgets import Explorer, explorer


def test_explorer_calls_back_with_defaults_and_on_change():
    calls = []
    w = explorer(lambda index, kind: calls.append((index, kind)), index=IntSlider(3, 0, 9),
                 kind=Dropdown(options=["a", "b"], value="a"))
    assert isinstance(w, Explorer) and calls == [(3, "a")]
    w.kwargs_widgets[0].value = 5
    assert calls[-1] == (5, "a")


def test_explorer_text_is_a_note_not_the_widget_repr():
    w = explorer(lambda index: None, index=IntSlider(0, 0, 9))
    data = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "interactive(children" not in data["text/plain"]
    assert data["text/plain"].startswith("Interactive explorer (index)") and "JupyterLab" in data["text/plain"]


def test_explorer_rejects_a_non_callable():
    with pytest.raises(TypeError, match="callback"):
        explorer("show", index=IntSlider(0, 0, 9))


def test_time_explorers_moves_every_control_and_times_each_update():
    from ipywidgets import Checkbox, FloatSlider

    from course_utils.widgets import time_explorers

    calls = []
    w = explorer(lambda index, kind, scale, on: calls.append((index, kind, scale, on)),
                 index=IntSlider(3, 0, 9), kind=Dropdown(options=["a", "b", "c"], value="a"),
                 scale=FloatSlider(0.5, min=0.0, max=1.0), on=Checkbox(False))
    report = [r for r in time_explorers() if r["controls"] == ["index", "kind", "scale", "on"]]
    assert len(report) == 1
    # index: 9, 4, 0 and back to 3; kind: b, c, back to a; scale: 1.0, 0.0 (0.5 is its value), back; on: True, back
    assert len(report[0]["seconds"]) == 4 + 3 + 3 + 2 and all(s >= 0 for s in report[0]["seconds"])
    assert [c[0] for c in calls[1:5]] == [9, 4, 0, 3]
    assert [c[1] for c in calls[5:8]] == ["b", "c", "a"] and [c[3] for c in calls[-2:]] == [True, False]
    assert calls[-1] == (3, "a", 0.5, False)      # every control is put back
    del w


def test_show_figure_displays_one_png_of_the_figure_and_keeps_it(monkeypatch):
    import IPython.display
    from matplotlib.figure import Figure

    from course_utils.widgets import show_figure

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    fig = Figure(figsize=(2, 1), dpi=50)
    line, = fig.subplots().plot([0, 1], [0, 1])
    show_figure(fig)
    line.set_ydata([1, 0])                       # the same figure, updated and shown again
    show_figure(fig)
    assert len(shown) == 2 and all(isinstance(s, IPython.display.Image) for s in shown)
    assert shown[0].data[:8] == b"\x89PNG\r\n\x1a\n" and shown[0].data != shown[1].data
    import struct
    assert struct.unpack(">II", shown[0].data[16:24]) == (100, 50)     # its own size: 2×1 inches at 50 dpi


def test_show_figure_rejects_what_is_not_a_figure():
    import matplotlib.pyplot as plt

    from course_utils.widgets import show_figure

    with pytest.raises(TypeError, match="fig"):
        show_figure("not a figure")
    with pytest.raises(TypeError, match="fig"):
        show_figure(plt.subplots()[1])            # an Axes, not its Figure
    plt.close("all")
