"""JupyterLab as a learner meets it: ``make lab``'s own command, a real (headless) browser.

The server is started with the command ``make lab`` runs (``make -s lab-command`` prints
it), plus ``--no-browser``, 127.0.0.1, a random free port and a token, in the quick
profile.  It serves a copy of ``notebooks/`` (running a chapter saves it; the committed
notebooks are never touched).  Checks:

- through the REST API, every notebook opens and the kernel the notebooks name exists;
- in Debian's ``chromium`` driven by Playwright (never ``playwright install``), one chapter
  runs through JupyterLab's menu (Run > Run All Cells): every code cell gets an execution
  count, no cell has an error, a figure is on the page; a screenshot goes to ``build/``.

Without chromium or Playwright the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "01_data_exploration.ipynb"  # quick in the quick profile, and it draws figures
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "build" / f"lab-{Path(CHAPTER).stem}.png"
PROMPT_RAN = re.compile(r"^\[\d+\]:$")


def require(ok: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``ok``; under ``CI=true`` fail instead of skipping."""
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token, served folder and log file."""

    url: str
    token: str
    root: Path
    log: Path

    def api(self, path: str) -> Any:
        """GET ``/api/<path>`` with the token; the decoded JSON."""
        request = urllib.request.Request(
            f"{self.url}/api/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def log_tail(self) -> str:
        """The server's last output lines (for failure messages)."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def clear_outputs(path: Path) -> None:
    """Empty every code cell's outputs and execution count: what the browser shows is new."""
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    path.write_text(json.dumps(notebook, indent=1))


def lab_command() -> list[str]:
    """The command ``make lab`` runs, as a list, with the jupyter path made absolute."""
    require(shutil.which("make") is not None, "make is not installed")
    printed = subprocess.run(
        ["make", "-s", "--no-print-directory", "lab-command"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    command = shlex.split(printed)
    assert command[1:2] == ["lab"] and command[-1].rstrip("/") == "notebooks", command
    command[0] = str(ROOT / command[0])
    if os.getuid() == 0:
        assert "--allow-root" in command, "as root, make lab must pass --allow-root"
    return command


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``make lab``'s command, serving a copy of notebooks/, in the quick profile."""
    data_dir = ROOT / "data" / "cats_and_dogs"
    require((data_dir / "training_set").is_dir(), f"no data set in {data_dir}: run make data")
    command = lab_command()
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(
        ROOT / "notebooks",
        home / "notebooks",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    for path in (home / "notebooks").rglob("*.ipynb"):
        clear_outputs(path)
    token, port = secrets.token_hex(16), free_port()
    command += [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    env = dict(os.environ)
    env.update(
        CATDOG_PROFILE="quick",
        CATDOG_HOME=str(home),  # anything a chapter writes stays in the copy
        CATDOG_DATA_DIR=str(data_dir.resolve()),
        TF_CPP_MIN_LOG_LEVEL="2",
        JUPYTER_CONFIG_DIR=str(home / "config"),  # no personal settings
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),  # no tabs from earlier sessions
    )
    env.pop("CATDOG_DATA_SOURCE", None)
    log = home / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    running = Lab(f"http://127.0.0.1:{port}", token, home / "notebooks", log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"jupyter lab exited:\n{running.log_tail()}"
            try:
                running.api("status")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, f"no answer:\n{running.log_tail()}"
                time.sleep(0.5)
        yield running
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=20)


def test_every_notebook_opens_and_its_kernel_exists(lab: Lab) -> None:
    """``/api/contents`` returns each notebook; its kernelspec is in ``/api/kernelspecs``."""
    notebooks = sorted(p.relative_to(lab.root).as_posix() for p in lab.root.rglob("*.ipynb"))
    assert len(notebooks) >= 13, notebooks  # 00-06 and the six solutions
    specs = lab.api("kernelspecs")["kernelspecs"]
    for name in notebooks:
        model = lab.api(f"contents/{urllib.request.quote(name)}?content=1")
        assert model["type"] == "notebook", name
        cells = model["content"]["cells"]
        assert any(cell["cell_type"] == "code" for cell in cells), name
        kernel = model["content"]["metadata"]["kernelspec"]["name"]
        assert kernel in specs, f"{name} names kernel {kernel!r}; the server has {list(specs)}"


def kernel_states(lab: Lab, path: str) -> list[str]:
    """Execution states of the kernels of the sessions open on ``path``."""
    return [s["kernel"]["execution_state"] for s in lab.api("sessions") if s["path"] == path]


def saved_code_cells(lab: Lab, wait: float = 0.0) -> list[dict[str, Any]]:
    """The chapter's code cells as saved on the server's disk.

    With ``wait``, a read that fails while a save is still being written (the server answers
    500 for a half-written file) is tried again for up to ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            cells = lab.api(f"contents/{CHAPTER}?content=1")["content"]["cells"]
            return [cell for cell in cells if cell["cell_type"] == "code"]
        except urllib.error.HTTPError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def click_menu(page: Any, menu: str, item: str) -> None:
    """Click ``menu`` in JupyterLab's menu bar, then its entry ``item``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def save_and_wait(page: Any, lab: Lab, seconds: float = 90) -> None:
    """Save the chapter from the browser and wait until the server's copy has the counts.

    File > Save Notebook is clicked again every 10 seconds until the saved file shows
    execution counts: a click can land while a notification or a dialog takes the focus.
    A "File Changed" dialog (the file on disk is newer than the page's copy) is answered
    with Overwrite: the browser's copy is the one that ran.
    """
    deadline = time.monotonic() + seconds
    next_click = 0.0
    while not any(cell["execution_count"] for cell in saved_code_cells(lab, wait=10)):
        assert time.monotonic() < deadline, (
            f"the notebook was not saved with its counts:\n{lab.log_tail()}"
        )
        if time.monotonic() >= next_click:
            page.keyboard.press("Escape")  # close whatever menu or toast holds the focus
            click_menu(page, "File", "Save Notebook")
            next_click = time.monotonic() + 10
        overwrite = page.get_by_role("button", name="Overwrite", exact=True)
        if overwrite.count():
            overwrite.first.click()
        time.sleep(0.5)


def test_a_chapter_runs_all_cells_in_chromium(lab: Lab) -> None:
    """Run > Run All Cells on a chapter: every cell ran, no error, a figure is shown."""
    require(Path(CHROMIUM).is_file(), "chromium is not installed: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed: pip install -r requirements.txt")

    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab.url}/lab/tree/{CHAPTER}?token={lab.token}")
            page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=90_000)
            deadline = time.monotonic() + 90
            while kernel_states(lab, CHAPTER) != ["idle"]:
                assert time.monotonic() < deadline, f"no idle kernel:\n{lab.log_tail()}"
                time.sleep(0.5)

            started = time.monotonic()
            click_menu(page, "Run", "Run All Cells")
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
            idle_polls = 0
            while idle_polls < 3:  # idle three times in a row, nothing queued
                assert time.monotonic() - started < 300, f"still running:\n{lab.log_tail()}"
                time.sleep(1)
                texts = [t.strip() for t in prompts.all_text_contents()]
                busy = any("*" in t for t in texts) or kernel_states(lab, CHAPTER) != ["idle"]
                idle_polls = 0 if busy else idle_polls + 1
            seconds = time.monotonic() - started

            texts = [t.strip() for t in prompts.all_text_contents()]
            figures = page.locator(".jp-OutputArea-output img")
            assert figures.count() >= 1, "no figure in any output area"
            no_news = page.get_by_role("button", name="No", exact=True)
            if no_news.count():  # JupyterLab's "get notified about news?" toast
                no_news.first.click()
            figures.first.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
            drawn = figures.first.evaluate("img => img.complete && img.naturalWidth > 0")
            save_and_wait(page, lab)
        finally:
            browser.close()

    print(f"{CHAPTER}: Run All Cells in the browser took {seconds:.1f} s; {SCREENSHOT}")
    assert drawn, "the first figure did not load"
    assert texts and all(PROMPT_RAN.match(t) for t in texts), texts
    code = saved_code_cells(lab, wait=10)
    assert len(code) == len(texts)
    assert any("image/png" in o.get("data", {}) for cell in code for o in cell["outputs"])
    errors = [
        f"{o['ename']}: {o['evalue']}"
        for cell in code
        for o in cell["outputs"]
        if o["output_type"] == "error"
    ]
    assert not errors, errors
