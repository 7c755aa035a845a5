"""`make lab` really serves the course: start JupyterLab headless, ask its API for the start page, stop it."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_serves_the_start_notebook(tmp_path):
    port, token = free_port(), "course-test-token"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", *(["--allow-root"] if os.geteuid() == 0 else []), f"--ServerApp.root_dir={ROOT}", "lectures/00_tour.ipynb"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/lectures/00_tour.ipynb?token={token}"
        deadline, body = time.time() + 90, None
        while time.time() < deadline and body is None:
            try:
                body = json.load(urllib.request.urlopen(url, timeout=5))
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(1)
        assert body is not None, "JupyterLab did not answer within 90 s"
        assert body["type"] == "notebook" and body["content"]["cells"]
        lab = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10).read()
        assert b"JupyterLab" in lab
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # make lab runs the same command with the same start page
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/jupyter lab" in makefile and "lectures/00_tour.ipynb" in makefile
