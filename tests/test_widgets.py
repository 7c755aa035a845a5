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
