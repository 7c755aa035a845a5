"""plotting.show_map's shared colour scale (``limit``) and show_class_map's fixed class colours (``classes``)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.plotting import show_class_map, show_map  # noqa: E402

NAMES = [f"class {k}" for k in range(10)]


def colour_of(ax, name):
    """The legend colour (RGB) of the entry labelled ``name``."""
    legend = ax.get_legend()
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        if text.get_text() == name:
            return tuple(np.round(handle.get_facecolor()[:3], 4))
    raise KeyError(name)


def test_show_map_limit_sets_the_scale():
    m = torch.tensor([[-1.0, 0.5], [2.0, 0.0]])
    ax = show_map(m, limit=4.0)
    assert ax.images[-1].get_clim() == (-4.0, 4.0)                      # signed: [−L, L]
    ax = show_map(m.abs(), limit=4.0)
    assert ax.images[-1].get_clim() == (0.0, 4.0)                       # magnitude: [0, L]
    ax = show_map(m, percentile=100)
    assert ax.images[-1].get_clim() == (-2.0, 2.0)                      # default: the percentile of |map|
    plt.close("all")


@pytest.mark.parametrize("bad, error", [(0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), (True, TypeError), ("2", TypeError)])
def test_show_map_bad_limit(bad, error):
    with pytest.raises(error, match="limit"):
        show_map(torch.ones(2, 2), limit=bad)
    plt.close("all")


def test_show_class_map_fixed_colours_agree_across_panels():
    tab10 = [tuple(np.round(c, 4)) for c in plt.get_cmap("tab10").colors]
    a = torch.tensor([[3, 3, 3], [5, 5, 7]])          # 3 most frequent here
    b = torch.tensor([[5, 5, 5], [5, 3, 1]])          # 5 most frequent here
    ax_a, ax_b = show_class_map(a, NAMES, classes=[5, 3, 7]), show_class_map(b, NAMES, classes=[5, 3, 7])
    for ax in (ax_a, ax_b):
        assert colour_of(ax, "class 5") == tab10[0] and colour_of(ax, "class 3") == tab10[1]
    assert colour_of(ax_a, "class 7") == tab10[2]
    assert colour_of(ax_b, "1 other classes") == (0.6, 0.6, 0.6)       # class 1 was not listed: grey
    # without ``classes`` the colours follow the frequency within each map, so they differ
    assert colour_of(show_class_map(a, NAMES), "class 3") == colour_of(show_class_map(b, NAMES), "class 5")
    plt.close("all")


@pytest.mark.parametrize("bad, error", [([], ValueError), ([1, 1], ValueError), ([10], ValueError),
                                        ([-1], ValueError), (list(range(11)), ValueError), ([1.0], TypeError),
                                        ([True], TypeError), ("12", TypeError), (3, TypeError)])
def test_show_class_map_bad_classes(bad, error):
    with pytest.raises(error, match="classes"):
        show_class_map(torch.zeros(2, 2, dtype=torch.long), NAMES, classes=bad)
    plt.close("all")


def test_show_images_leaves_room_for_two_line_titles():
    from course_utils.plotting import show_images
    images = [torch.rand(1, 4, 4) for _ in range(4)]
    plain = show_images(images, ncols=2, size=1.0).get_size_inches()
    titled = show_images(images, titles=["a\nb"] * 4, ncols=2, size=1.0).get_size_inches()
    assert plain[0] == titled[0] and abs(titled[1] - plain[1] - 2 * 2 * 0.16) < 1e-9   # 2 rows × 2 lines
    plt.close("all")
