"""`make html`'s site in a real headless browser: every page loads, no broken image or link; screenshots saved."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_html.py"), "--no-execute", "--out", str(out)],
                   check=True, capture_output=True)
    return out


def test_site_has_a_page_per_lecture(site):
    lectures = sorted(p.stem for p in (ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.stem for p in site.glob("[0-9][0-9]_*.html")) == lectures
    index = (site / "index.html").read_text()
    assert all(f'href="{stem}.html"' in index for stem in lectures)
    assert "cdn" not in (site / f"{lectures[0]}.html").read_text().split("mathjax/MathJax.js")[0][-200:]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)")
def test_every_page_loads_in_chromium(site):
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    pages = sorted(site.glob("*.html"))
    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for path in pages:
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            failed: list[str] = []
            tab.on("requestfailed", lambda r: failed.append(r.url))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(path.as_uri(), wait_until="load")
            broken = tab.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                                  ".map(i => i.src.slice(0, 80))")
            links = tab.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
            dead = [h for h in links if not h.startswith(("http", "#", "mailto:"))
                    and not (site / h.split("#")[0]).exists()]
            local_failures = [u for u in failed if u.startswith("file:")]
            if broken or dead or local_failures:
                problems.append(f"{path.name}: broken images {broken}, dead links {dead}, failed {local_failures}")
            if path.name == "index.html" or path.name.startswith("00_"):
                tab.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"), full_page=path.name == "index.html")
            tab.close()
        browser.close()
    assert not problems, "\n".join(problems)
    leaving = sorted({u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))})
    assert not leaving, f"the offline site asked the network for {leaving}"
    assert (ARTIFACTS / "index.png").stat().st_size > 5000


def test_titles_and_explorer_notes(site):
    import re
    index = (site / "index.html").read_text()
    titles = re.findall(r'<td><a href="\d\d_[^"]+">([^<]+)</a>', index)
    assert titles and all(re.match(r"\d\d · [^*`\[]+$", t) for t in titles), titles
    page = (site / "04_gradients.html").read_text()
    assert "<title>04 · " in page and "Interactive explorer: live in JupyterLab" in page
    assert "interactive(children" not in page and "require.min.js" not in page and "mermaid.esm" not in page
