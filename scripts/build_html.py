"""Build the offline course site: execute every lecture and write build/index.html + build/NN_topic.html.

Figures are embedded in the pages, formulas are typeset by a local copy of MathJax (from the PyPI package
jupyter-server-mathjax), and every page has links to the course map and the previous/next lecture. The pages
make no request that leaves the machine: nbconvert's CDN scripts (require.js, mermaid) are removed, explorers
show a note that they are live in JupyterLab, and the build fails if any remote script or stylesheet is left.

Usage: python scripts/build_html.py [--no-execute] [--out build]
  --no-execute   convert the committed outputs instead of running the notebooks (fast; the committed
                 lectures are executed top to bottom, and `make test` checks that they still run)
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
STYLE = """<style>
.course-nav{font:15px system-ui,sans-serif;padding:.6em 1em;background:#f3f4f6;border-bottom:1px solid #ddd;
display:flex;gap:1.5em}.course-nav a{color:#1d4ed8;text-decoration:none}.course-nav span{color:#888}
</style>"""


def clean_title(markdown: str) -> str:
    """A heading's text without markdown and without a "Lecture NN —" / "NN ·" prefix."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)          # [text](link) → text
    text = re.sub(r"[*_`]", "", text).strip()
    return re.sub(r"^(Lecture\s+)?\d\d\s*[—·:.-]\s*", "", text).strip()


def lectures() -> list[tuple[str, str, str, str]]:
    """(file stem, "NN · title", what you learn, minutes) for every row of the README's lecture table."""
    rows = re.findall(r"^\| (\d\d) \| \[lectures/(\S+?)\.ipynb\]\(\S+\) \| (.+?) \| (\d+) \|$",
                      (ROOT / "README.md").read_text(), re.M)
    out = []
    for number, stem, learn, minutes in rows:
        nb = nbformat.read(ROOT / "lectures" / f"{stem}.ipynb", as_version=4)
        title = next((line[2:] for c in nb.cells if c.cell_type == "markdown"
                      for line in c.source.splitlines() if line.startswith("# ")), stem)
        out.append((stem, f"{number} · {clean_title(title)}", learn, minutes))
    return out


EXPLORER_NOTE = ("Interactive explorer: live in JupyterLab (`make lab`, then run this cell); "
                 "this offline page shows only the figures drawn above.")


def static_explorers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose widget outputs (which need a kernel) are replaced by a note."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                out["data"] = {"text/plain": EXPLORER_NOTE}
    nb.metadata.pop("widgets", None)
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path) -> float:
    from nbclient import NotebookClient
    start = time.perf_counter()
    env_backend = os.environ.pop("MPLBACKEND", None)   # inline figures, not Agg
    try:
        # the kernel's own log (TCP transport notice, shutdown) is noise here; cell errors still raise
        NotebookClient(nb, timeout=900, resources={"metadata": {"path": str(cwd)}}).execute(stderr=subprocess.DEVNULL)
    finally:
        if env_backend is not None:
            os.environ["MPLBACKEND"] = env_backend
    return time.perf_counter() - start


def nav(items: list[tuple[str, str, str, str]], i: int) -> str:
    def link(j: int, label: str) -> str:
        if 0 <= j < len(items):
            return f'<a href="{items[j][0]}.html">{label} {html.escape(items[j][1])}</a>'
        return f"<span>{label}</span>"
    return (f'<nav class="course-nav"><a href="index.html">☰ Course map</a>{link(i - 1, "←")}'
            f'{link(i + 1, "→")}</nav>')


# The PyPI copy of MathJax ships only the STIX-Web fonts: tell MathJax to use them (no request for the others).
MATHJAX_FONTS = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], '
                 'preferredFont: null, webFont: "STIX-Web", imageFont: null}});</script>')


REMOTE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["']https?://[^>]*>""", re.I)
CDN_SCRIPTS = [re.compile(r"<script[^>]*require\.min\.js[^>]*>\s*</script>\s*", re.I),
               re.compile(r"<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>\s*",
                          re.S)]


def page(exporter: HTMLExporter, nb: nbformat.NotebookNode, navigation: str, title: str) -> str:
    body, _ = exporter.from_notebook_node(static_explorers(nb), resources={"metadata": {"name": title}})
    for pattern in CDN_SCRIPTS:          # the widget renderer's loader and mermaid: unused here, and remote
        body = pattern.sub("", body)
    remote = REMOTE.findall(body)
    if remote or "cdnjs" in body:
        raise RuntimeError(f"{title}: the page would load from the network: {remote[:3] or 'cdnjs'}")
    body = re.sub(r'href="(\d\d_[\w-]+)\.ipynb"', r'href="\1.html"', body)   # links between lectures
    body = body.replace("</head>", STYLE + MATHJAX_FONTS + "</head>", 1)
    body = re.sub(r"(<body[^>]*>)", r"\1" + navigation, body, count=1)
    return body.replace("</body>", navigation + "</body>", 1)


def index_page(items: list[tuple[str, str, str, str]]) -> str:
    rows = "\n".join(f'<tr><td><a href="{stem}.html">{html.escape(title)}</a></td><td>{html.escape(learn)}</td>'
                     f"<td>{minutes}</td></tr>" for stem, title, learn, minutes in items)
    total = sum(int(m) for *_, m in items)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Looking inside neural networks</title>
{STYLE}<style>body{{font:16px system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.4em .8em;text-align:left}}</style>
</head><body><h1>Looking inside neural networks</h1>
<p>A hands-on course on reading trained networks: which inputs drive a unit, which parts of an input drive a
decision, and which units matter. {len(items)} lectures, about {total} minutes. This site works offline;
exercises and solutions are the notebooks in <code>exercises/</code> and <code>solutions/</code>.</p>
<table><tr><th>lecture</th><th>what you learn</th><th>minutes</th></tr>
{rows}
</table></body></html>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-execute", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    import jupyter_server_mathjax
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (out / "mathjax").exists():
        shutil.copytree(mathjax, out / "mathjax")
    exporter = HTMLExporter(template_name="lab", mathjax_url="mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe")
    items = lectures()
    for i, (stem, title, _, _) in enumerate(items):
        nb = nbformat.read(ROOT / "lectures" / f"{stem}.ipynb", as_version=4)
        seconds = 0.0 if args.no_execute else execute(nb, ROOT / "lectures")
        (out / f"{stem}.html").write_text(page(exporter, nb, nav(items, i), title))
        print(f"{stem}.html" + ("" if args.no_execute else f"  executed in {seconds:.1f} s"))
    (out / "index.html").write_text(index_page(items))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(items) + 1} pages to {out} ({size / 1e6:.1f} MB with MathJax)")


if __name__ == "__main__":
    main()
