"""`make lab` used as a person uses it: Debian's Chromium (driven by Playwright) against a JupyterLab started
exactly as `make lab` starts it (`course_utils.__main__.lab_command`, plus --no-browser, a port and a token).

A student opens lecture 04 from the file browser and runs every cell: the figures must appear as images, and
the explorer's picture must change when a control changes. Then they open an exercise from exercises/, run it
("not implemented yet"), paste the solution and see "passed". Screenshots go to test-artifacts/lab-*.png.
Autosave is off in this test's own settings directory, and the test checks that no course file was modified.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_utils.__main__ import START_PAGE, lab_command

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TOKEN = "course-test-token"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                                             "(make test installs it as root)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def course_files_digest() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in ("lectures", "exercises", "solutions") for p in sorted((ROOT / d).glob("*.ipynb"))}


def write_settings(settings: Path) -> None:
    """This test's own JupyterLab user settings: no autosave (the test must not write the course's files)."""
    for plugin, values in {"@jupyterlab/docmanager-extension/plugin": {"autosave": False},
                           "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"}}.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, server log path) of a JupyterLab started the way `make lab` starts it."""
    tmp = tmp_path_factory.mktemp("lab")
    write_settings(tmp / "settings")
    port = free_port()
    cmd, env = lab_command(["--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                            f"--IdentityProvider.token={TOKEN}", f"--LabApp.user_settings_dir={tmp / 'settings'}",
                            f"--LabApp.workspaces_dir={tmp / 'workspaces'}"])
    env = dict(env, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), COURSE_PROGRESS="1")
    env.pop("OMP_NUM_THREADS", None)          # the kernels get the machine as a student's would
    log = tmp / "server.log"
    before = course_files_digest()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.time() < deadline, "JupyterLab did not answer within 120 s"
                time.sleep(1)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert course_files_digest() == before, "the browser test modified a course notebook"


def test_lab_command_is_what_make_lab_runs():
    makefile = (ROOT / "Makefile").read_text()
    lab_rule = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "-m course_utils lab" in lab_rule
    assert "MPLBACKEND" not in makefile.split("\ntest:", 1)[0].replace("# No MPLBACKEND", ""), \
        "MPLBACKEND must not reach `make lab` (no figure would ever appear)"
    cmd, env = lab_command()
    assert "MPLBACKEND" not in env
    assert f"--ServerApp.root_dir={ROOT}" in cmd and any(START_PAGE in c for c in cmd)


def test_server_is_rooted_at_the_project(lab):
    base, _ = lab
    for folder in ("lectures", "exercises", "solutions"):
        body = json.load(urllib.request.urlopen(f"{base}/api/contents/{folder}?token={TOKEN}", timeout=10))
        assert body["type"] == "directory" and body["content"], folder


# ---------------------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def open_lab(browser, base):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.goto(f"{base}/lab?token={TOKEN}")
    page.wait_for_selector(".jp-DirListing-item", timeout=90_000)
    return page, messages


def kernel_state(base: str, path: str) -> str | None:
    """The execution state the server reports for the kernel of the notebook at ``path`` (None: no kernel yet)."""
    sessions = json.load(urllib.request.urlopen(f"{base}/api/sessions?token={TOKEN}", timeout=10))
    return next((s["kernel"]["execution_state"] for s in sessions if s.get("path") == path and s.get("kernel")),
                None)


def open_from_file_browser(page, base: str, *parts: str) -> None:
    """Double-click through the file browser, as a person does (starting at the server's root), and wait until
    the notebook's kernel has started and is idle, as the server reports it (the page's indicator can read
    "idle" before a kernel is connected)."""
    page.locator(".jp-BreadCrumbs-home").first.click()
    for part in parts:
        item = page.locator(".jp-DirListing-itemText").get_by_text(part, exact=True)
        item.first.wait_for(timeout=30_000)
        item.first.dblclick()
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    deadline = time.time() + 120
    while (state := kernel_state(base, "/".join(parts))) != "idle":
        assert time.time() < deadline, f"the kernel of {'/'.join(parts)} is {state} 120 s after opening it"
        time.sleep(0.5)
    page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.locator(f"{NOTEBOOK} .jp-InputPrompt").first.click()   # focus the notebook


def menu(page, top: str, item: str) -> None:
    page.locator(f'.lm-MenuBar-itemLabel:text-is("{top}")').click()
    page.locator(f'.lm-Menu-itemLabel:text-is("{item}")').click()


NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def wait_until_idle(page, code_cells: int, timeout: float) -> None:
    """Every code cell executed: each of the ``code_cells`` prompts shows a number, and the kernel is idle."""
    prompts = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt")
    deadline = time.time() + timeout
    while time.time() < deadline:
        texts = prompts.all_text_contents()
        done = sum(bool(re.fullmatch(r"\[\d+\]:", t.strip())) for t in texts)
        idle = page.locator(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']").count()
        if done == code_cells and idle:
            return
        time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "lab-still-running.png"))
    raise AssertionError(f"the notebook was still running after {timeout} s ({done} of {code_cells} cells done; "
                         f"prompts {[t.strip() for t in texts]})")


def code_cells(path: Path) -> int:
    return sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)


def committed_figures(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@needs_chromium
def test_lecture_figures_and_explorer_in_the_browser(lab, browser):
    base, log = lab
    ARTIFACTS.mkdir(exist_ok=True)
    page, messages = open_lab(browser, base)
    names = page.locator(".jp-DirListing-itemText").all_inner_texts()
    assert {"lectures", "exercises", "solutions"} <= set(names), f"file browser shows {names}"
    open_from_file_browser(page, base, "lectures", "04_gradients.ipynb")
    menu(page, "Edit", "Clear Outputs of All Cells")
    images = page.locator(f"{NOTEBOOK} .jp-OutputArea-output img")
    assert images.count() == 0
    start = time.perf_counter()
    menu(page, "Run", "Run All Cells")
    try:
        images.first.wait_for(timeout=300_000)      # a loaded 2-core CI machine runs other notebooks meanwhile
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "lab-lecture04-no-figure.png"))
        raise
    first_figure = time.perf_counter() - start
    wait_until_idle(page, code_cells(ROOT / "lectures" / "04_gradients.ipynb"), timeout=300)
    run_all = time.perf_counter() - start
    page.screenshot(path=str(ARTIFACTS / "lab-lecture04.png"))
    expected = committed_figures(ROOT / "lectures" / "04_gradients.ipynb")
    shown = images.count()
    errors = page.locator(f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                          has_text="Error").count()
    assert errors == 0, "a cell failed in the browser"
    assert shown >= expected, f"{shown} figures appeared in the page, the committed lecture has {expected}"

    # the explorer: change one control, the picture must change within a few seconds
    explorer = page.locator(f"{NOTEBOOK} .widget-interact").last
    explorer.scroll_into_view_if_needed()
    picture = explorer.locator("img").first
    picture.wait_for(timeout=30_000)
    before = picture.get_attribute("src")
    select = explorer.locator("select").first
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("s => s.options[s.selectedIndex].text")
    start = time.perf_counter()
    select.select_option(label=next(o for o in options if o != current))
    deadline = time.time() + 10
    while time.time() < deadline:
        now = explorer.locator("img").first
        if now.count() and now.get_attribute("src") != before:
            break
        time.sleep(0.05)
    else:
        explorer.screenshot(path=str(ARTIFACTS / "lab-explorer04-unchanged.png"))
        raise AssertionError("the explorer's picture did not change within 10 s of changing a control "
                             f"(server log: {log.read_text()[-1500:]})")
    update = time.perf_counter() - start
    explorer.screenshot(path=str(ARTIFACTS / "lab-explorer04.png"))
    bad = [m for m in messages if "mathjax3-extension" in m or "incompatible" in m.lower()]
    assert not bad, bad
    (ARTIFACTS / "lab-timings.txt").write_text(
        f"lecture 04 in JupyterLab: first figure {first_figure:.1f} s after Run All, all cells {run_all:.1f} s, "
        f"{shown} figures; explorer update {update:.2f} s\n")
    print((ARTIFACTS / "lab-timings.txt").read_text())
    page.close()


@needs_chromium
def test_exercise_from_the_file_browser_passes_once_solved(lab, browser):
    base, _ = lab
    name = "01_weights_and_activations.ipynb"
    exercise = nbformat.read(ROOT / "exercises" / name, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / name, as_version=4)
    stub = next(i for i, c in enumerate(exercise.cells) if "raise NotImplementedError" in c.source)
    check = next(i for i in range(stub + 1, len(exercise.cells)) if "check_" in exercise.cells[i].source)
    page, _ = open_lab(browser, base)
    open_from_file_browser(page, base, "exercises", name)
    menu(page, "Run", "Run All Cells")
    wait_until_idle(page, code_cells(ROOT / "exercises" / name), timeout=300)
    cells = page.locator(f"{NOTEBOOK} .jp-Cell")
    assert "not implemented yet" in cells.nth(check).text_content()

    # paste the solution into the stub cell, run it and its check
    editor = cells.nth(stub).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(solution.cells[stub].source)
    page.keyboard.press("Shift+Enter")
    cells.nth(check).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    wait_until_idle(page, code_cells(ROOT / "exercises" / name), timeout=120)
    text = cells.nth(check).text_content()
    page.screenshot(path=str(ARTIFACTS / "lab-exercise01.png"))
    assert "passed" in text and "not implemented" not in text, text[-500:]
    page.close()


@needs_chromium
def test_slides_are_offline_scroll_and_say_where_explorers_are_live(lab, browser):
    """RISE (Alt+R) opens /rise/<notebook>. Widgets are not live there (jupyterlab-contrib/rise#119: its page
    bundles an older JupyterLab than the widget manager needs), so the explorer slides carry a note instead."""
    base, _ = lab
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{base}/rise/lectures/04_gradients.ipynb?token={TOKEN}")
    page.wait_for_selector(".reveal .slides section.present", timeout=90_000)
    time.sleep(3)
    page.mouse.move(640, 400)
    page.mouse.wheel(0, 1500)
    time.sleep(1)
    scrolled = page.evaluate("[...document.querySelectorAll('.reveal section.present')].some(s => s.scrollTop > 0)")
    assert scrolled, "a long slide cannot be scrolled"
    note = page.locator(".reveal .slides section", has_text="Interactive explorer")
    assert note.count() >= 1 and "interactive(children" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "lab-slides04.png"))
    leaving = sorted({u for u in requests if not u.startswith((base, "data:", "blob:", "about:"))})
    assert not leaving, f"the slideshow asked the network for {leaving}"
    page.close()
