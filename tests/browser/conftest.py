"""Skip logic and session fixtures of the browser tier.

The tier runs only when ``COMFYUI_PATH`` points at a ComfyUI checkout (0.29), the
``playwright`` package is importable and a Chromium executable is found (``$ADT_CHROMIUM``
or a system install; playwright's browser download is never used). Otherwise every test
here is skipped with one reason; collection needs none of them (``comfy_browser.py``
imports playwright only when it drives a browser).

One ComfyUI server runs per session, as a subprocess (``comfy_browser.py``), from a
scratch base directory: only this pack in ``custom_nodes``, the tiny test models (SD1.5
checkpoint and ControlNet, Wan 2.1 T2V model and VAE, Wan I2V model as both Wan 2.2 experts)
under the example workflows' model names, empty placeholders under the names of the umT5-XXL
text encoder and SAM3.1 (never loaded: the Wan and SAM3 examples are not queued), the demo clip in ``input`` (and as
an MP4 with sound, for Load Video), frontend settings that suppress first-run dialogs. One Chromium runs per session; each test gets a fresh browser context and page.

Screenshots and logs go to ``tests/browser/artifacts/`` (``$ADT_BROWSER_ARTIFACTS``
overrides); with ``ADT_UPDATE_PREVIEWS=1`` each example's loaded-graph screenshot also
becomes ``example_workflows/<stem>.png`` and its template thumbnail ``<stem>.jpg``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import comfy_browser  # tools/, on sys.path through tests/conftest.py

HERE = Path(__file__).resolve().parent
COMFY_ENV = "COMFYUI_PATH"
ARTIFACTS_ENV = "ADT_BROWSER_ARTIFACTS"
UPDATE_PREVIEWS_ENV = "ADT_UPDATE_PREVIEWS"

# Timings collected during the session, printed in the terminal summary.
TIMINGS: list[tuple[str, float]] = []
# What a test did not do and why (e.g. an example loaded and checked but not queued), printed after the timings.
NOTES: list[str] = []


def comfyui_path() -> Path | None:
    value = os.environ.get(COMFY_ENV, "").strip()
    return Path(value).expanduser() if value else None


def skip_reason() -> str | None:
    """Why the tier cannot run here, or None when it can."""
    if comfyui_path() is None:
        return f"{COMFY_ENV} not set: browser tier skipped"
    if not comfy_browser.playwright_available():
        return "playwright is not importable: browser tier skipped"
    if comfy_browser.find_chromium() is None:
        return f"no Chromium found (install chromium or set {comfy_browser.CHROMIUM_ENV}): browser tier skipped"
    return None


def _in_this_tier(item) -> bool:
    path = Path(str(item.path)).resolve()
    return path.parent == HERE or HERE in path.parents


def pytest_collection_modifyitems(config, items):
    reason = skip_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if _in_this_tier(item):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TIMINGS and not NOTES:
        return
    terminalreporter.section("browser tier")
    for label, seconds in TIMINGS:
        terminalreporter.write_line(f"{seconds:7.2f}s  {label}")
    for note in NOTES:
        terminalreporter.write_line(f"note: {note}")


@pytest.fixture(scope="session")
def timings() -> list[tuple[str, float]]:
    """Append ``(label, seconds)``; printed at the end of the session."""
    return TIMINGS


@pytest.fixture(scope="session")
def notes() -> list[str]:
    """Append a line; printed at the end of the session, after the timings."""
    return NOTES


@pytest.fixture(scope="session")
def cb():
    """The ``tools/comfy_browser.py`` module."""
    return comfy_browser


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    directory = Path(os.environ.get(ARTIFACTS_ENV, "").strip() or HERE / "artifacts").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def update_previews() -> bool:
    return os.environ.get(UPDATE_PREVIEWS_ENV, "").strip() not in ("", "0", "false", "no")


def _keep_log(server, artifacts_dir: Path) -> None:
    """Copy the server's log into the artifacts (as ``comfyui.log``)."""
    if server.log_path.is_file():
        shutil.copyfile(server.log_path, artifacts_dir / "comfyui.log")


@pytest.fixture(scope="session")
def comfy_server(cb, comfy_root, artifacts_dir, tmp_path_factory):
    """ComfyUI serving this pack alone from a scratch base directory; its log is copied to the artifacts."""
    started = time.perf_counter()
    models = cb.ensure_tiny_models()
    TIMINGS.append(("tiny models ready (SD1.5 checkpoint, ControlNet, Wan 2.1 T2V, Wan I2V, Wan 2.1 VAE)",
                    time.perf_counter() - started))
    base = cb.prepare_base_dir(tmp_path_factory.mktemp("comfyui-base"), models=models)
    server = cb.ComfyServer(comfy_root, base)
    try:
        server.start()
    except cb.ServerError as error:
        server.stop()
        _keep_log(server, artifacts_dir)
        pytest.fail(f"ComfyUI did not start: {error}")
    TIMINGS.append(("ComfyUI server start", server.start_seconds))
    try:
        expected = [str(base / "custom_nodes" / cb.PACK_LINK_NAME)]
        loaded = server.loaded_custom_nodes()
        if loaded != expected or server.import_failures():
            pytest.fail(f"ComfyUI loaded custom nodes {loaded} (expected {expected}); "
                        f"import failures: {server.import_failures()}\n{server.log_tail()}")
        yield server
    finally:
        server.stop()
        _keep_log(server, artifacts_dir)


@pytest.fixture(scope="session")
def browser(cb, comfy_server):
    """One headless Chromium for the session; yields ``new_page() -> ComfyPage`` (a fresh context each)."""
    with cb.open_browser(comfy_server.url) as new_page:
        yield new_page


@pytest.fixture
def comfy_page(browser, artifacts_dir, request):
    """A fresh page with the frontend loaded; its console is written to the artifacts afterwards."""
    started = time.perf_counter()
    page = browser()
    try:
        page.open()
        TIMINGS.append((f"frontend ready ({request.node.name})", time.perf_counter() - started))
        yield page
    finally:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
        (artifacts_dir / f"{name}.console.txt").write_text("\n".join(page.console) + "\n")
        page.page.context.close()
