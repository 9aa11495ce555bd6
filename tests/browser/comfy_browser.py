"""Drive a real ComfyUI (0.29) server and its web frontend in headless Chromium.

The browser tier of the test suite (``tests/browser``) is built on this module; it has no
pytest dependency, so it can also be used by hand (see :func:`main`). Two halves:

Server (:class:`ComfyServer`)
    ``main.py --listen 127.0.0.1 --port <free> --cpu --disable-api-nodes --base-directory
    <scratch>`` as a subprocess whose working directory is the scratch folder (ComfyUI writes
    ``comfyui_detail.log`` to the working directory). ``--base-directory`` moves every default
    folder ComfyUI knows (``custom_nodes``, ``models``, ``input``, ``output``, ``temp``,
    ``user``) into the scratch folder, so the checkout's own ``custom_nodes`` is not scanned;
    ``--database-url`` keeps the SQLite file there too. :func:`prepare_base_dir` fills it:
    ``custom_nodes`` holds only a symlink to this repository, ``models/checkpoints``,
    ``models/controlnet``, ``models/diffusion_models`` and ``models/vae`` hold the tiny test
    models under the names the example workflows use (:func:`ensure_tiny_models`),
    ``models/text_encoders`` and ``models/checkpoints`` hold empty placeholders under the names of
    the model files no test can make (:data:`NAME_ONLY_MODELS`: umT5-XXL, SAM3.1; the examples that
    load them are not queued), ``input`` holds the demo clip (an animated WebP, and an MP4 with
    sound for Load Video), ``user/default/comfy.settings.json`` holds
    frontend settings that suppress first-run dialogs.

Browser (:class:`ComfyPage`)
    Playwright's sync API on a page of that server: wait for ``window.app``; load a workflow
    through the hidden ``#comfy-file-input`` (what the menu's *Open* does, ending in
    ``app.handleFile``); read what the frontend reports (node types LiteGraph does not know,
    the missing-nodes / missing-models / missing-media stores, combo and number widgets
    holding values their widget rejects); queue with the *Run* button (``queue-button``)
    and read the ``/prompt`` response (``prompt_id``, ``node_errors``); poll
    ``/history/<id>``; screenshot the graph fitted to view and the output nodes.

Playwright, Chromium and ComfyUI are only needed when these functions are called; importing
this module needs the standard library alone. Run it as a script to load (and optionally
run) one workflow and write its screenshots::

    python tests/browser/comfy_browser.py --comfyui /path/to/ComfyUI example_workflows/x.json --run
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
if str(REPO_ROOT / "tools") not in sys.path:  # run as a script: the tools are imported by name
    sys.path.append(str(REPO_ROOT / "tools"))

import tiny_checkpoint  # noqa: E402  (tools/)
import tiny_controlnet  # noqa: E402
import tiny_video_models  # noqa: E402
import workflow_ui  # noqa: E402
from example_workflows_spec import (  # noqa: E402  (beside this file)
    SAM31_CHECKPOINT,
    WAN21_MODEL,
    WAN21_TEXT_ENCODER,
    WAN21_VAE,
    WAN22_I2V_HIGH_NOISE,
    WAN22_I2V_LOW_NOISE,
)

log = logging.getLogger("comfy_browser")

PACK_LINK_NAME = "comfyui-animatediff-detailer"
CHECKPOINT_NAME = "v1-5-pruned-emaonly.safetensors"  # what the example workflows load
CONTROLNET_NAME = "control_v11f1e_sd15_tile.safetensors"
CHROMIUM_ENV = "ADT_CHROMIUM"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-extensions")
VIEWPORT = {"width": 2400, "height": 1200}  # wide enough that the example graphs fit at a readable zoom

# Frontend settings written to the scratch user folder before the server starts.
FRONTEND_SETTINGS: dict[str, Any] = {
    "Comfy.TutorialCompleted": True,  # otherwise a new user gets a blank graph and the templates dialog
    "Comfy.Notification.ShowVersionUpdates": False,  # no "what's new" toasts
    "Comfy.Window.UnloadConfirmation": False,  # no beforeunload prompt when the page closes
    "Comfy.Minimap.Visible": False,  # shown by default on wide windows; it would cover the graph
    "Comfy.Graph.CanvasInfo": False,  # the FPS / node-count text in the canvas corner
    "Comfy.Graph.CanvasMenu": False,  # the zoom / mode toolbar floating over the canvas
    "Comfy.VueNodes.Enabled": False,  # classic LiteGraph canvas rendering
    "LiteGraph.Canvas.MinFontSizeForLOD": 0,  # never the text-less low-detail rendering in screenshots
    "Comfy.Validation.Workflows": False,  # the default: load files as a user's frontend does
    "Comfy.RightSidePanel.ShowErrorsTab": True,  # the default: missing nodes / node errors go to the errors panel
}

# JavaScript run in the page; each is a function taking one argument.
_JS_READY = """() => Boolean(window.app && window.app.canvas && window.app.rootGraph
    && window.LiteGraph && window.app.extensionManager && window.app.extensionManager._p
    && document.getElementById('comfy-file-input'))"""

_JS_STORES = """(names) => {
    const stores = window.app.extensionManager._p._s;  // pinia's store registry
    const plain = (value) => JSON.parse(JSON.stringify(value ?? null));
    const out = {};
    for (const name of names) out[name] = stores.has(name) ? stores.get(name) : null;
    return {
        missingNodes: plain(out.missingNodesError?.missingNodesError?.nodeTypes ?? []),
        missingModels: plain(out.missingModel?.missingModelCandidates ?? []),
        missingMedia: plain(out.missingMedia?.missingMediaCandidates ?? []),
        lastNodeErrors: plain(out.executionError?.lastNodeErrors ?? null),
        lastPromptError: plain(out.executionError?.lastPromptError ?? null),
        lastExecutionError: plain(out.executionError?.lastExecutionError ?? null),
    };
}"""

_JS_UNREGISTERED = """() => {
    const known = window.LiteGraph.registered_node_types;
    const graph = window.app.rootGraph;
    const types = new Set();
    const add = (nodes) => { for (const n of nodes ?? []) types.add(n.type); };
    add(graph.nodes);
    for (const sub of graph.subgraphs?.values?.() ?? []) add(sub.nodes);
    const subgraphIds = new Set([...(graph.subgraphs?.keys?.() ?? [])]);
    return [...types].filter((t) => !(t in known) && !subgraphIds.has(t)).sort();
}"""

_JS_REJECTED_WIDGETS = """() => {
    const out = [];
    const check = (node) => {
        for (const w of node.widgets ?? []) {
            const base = {node: String(node.id), type: node.type, widget: w.name, value: w.value};
            if (w.type === 'combo') {
                let values = w.options?.values;
                if (typeof values === 'function') values = values(w, node);
                if (Array.isArray(values) && values.length && !values.includes(w.value))
                    out.push({...base, reason: 'not in the combo list', allowed: values.slice(0, 25)});
            } else if (w.type === 'number' || w.type === 'slider') {
                const {min, max} = w.options ?? {};
                if (typeof w.value !== 'number' || !Number.isFinite(w.value))
                    out.push({...base, reason: 'not a finite number'});
                else if ((min != null && w.value < min) || (max != null && w.value > max))
                    out.push({...base, reason: `outside [${min}, ${max}]`});
            } else if (w.type === 'toggle' && typeof w.value !== 'boolean') {
                out.push({...base, reason: 'not a boolean'});
            }
        }
    };
    const graph = window.app.rootGraph;
    for (const node of graph.nodes) check(node);
    for (const sub of graph.subgraphs?.values?.() ?? []) for (const node of sub.nodes) check(node);
    return JSON.parse(JSON.stringify(out));
}"""

# Fit the view to some nodes (all when none given) at once: the "Zoom to fit" command
# (Comfy.Canvas.FitView) animates, which a screenshot would catch half-way.
_JS_FIT_VIEW = """([nodeIds, zoom]) => {
    const app = window.app;
    const all = app.rootGraph.nodes;
    const nodes = nodeIds.length ? nodeIds.map((id) => app.rootGraph.getNodeById(id)).filter(Boolean) : all;
    if (!nodes.length) return false;
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const node of nodes) {
        const [x, y, w, h] = node.boundingRect;  // includes the title bar
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
    }
    app.canvas.deselectAll();
    const ds = app.canvas.ds;
    ds.fitToBounds([x0, y0, x1 - x0, y1 - y0], {zoom});
    app.canvas.setDirty(true, true);
    app.canvas.draw(true, true);
    const box = app.canvas.canvas.getBoundingClientRect();  // the nodes' bounds in page pixels:
    return {x: box.left + (x0 + ds.offset[0]) * ds.scale, y: box.top + (y0 + ds.offset[1]) * ds.scale,
            width: (x1 - x0) * ds.scale, height: (y1 - y0) * ds.scale};
}"""

# Applied while a screenshot is taken: hide focus mode's "Show Menu" button and the toasts.
_SCREENSHOT_CSS = """
button[aria-label="Show Menu"], .p-toast { visibility: hidden !important; }
"""

_JS_IMAGES_SHOWN = """(nodeIds) => nodeIds.every((id) => {
    const node = window.app.rootGraph.getNodeById(id);
    return node && node.imgs && node.imgs.length
        && node.imgs.every((img) => img.complete && (img.naturalWidth > 0 || img.videoWidth > 0));
})"""


# --- small helpers ------------------------------------------------------------------------


def find_chromium() -> str | None:
    """A Chromium executable: ``$ADT_CHROMIUM`` if set, else a system install; None if absent.

    Playwright's own browser download is never used.
    """
    override = os.environ.get(CHROMIUM_ENV, "").strip()
    candidates = [override] if override else list(CHROMIUM_CANDIDATES)
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if os.path.isfile(candidate) else None)
        if path and os.access(path, os.X_OK):
            return path
    return None


def playwright_available() -> bool:
    """Whether the playwright package can be imported (without importing it)."""
    return importlib.util.find_spec("playwright") is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _symlink(link: Path, target: str | os.PathLike) -> None:
    """Make ``link`` a symlink to ``target``, replacing whatever was there."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    link.symlink_to(Path(target).resolve(), target_is_directory=Path(target).is_dir())


# --- models, clip and the scratch base directory ------------------------------------------


# Model files the example workflows load that no test can make, as paths under ``models/``. The
# frontend only checks that a loader's file name is in the server's list, so an empty file under
# the name satisfies its missing-model check; it is never loaded, because the examples that name
# it are loaded and checked but not queued (``not_queued`` in example_workflows_spec.py).
NAME_ONLY_MODELS = (f"text_encoders/{WAN21_TEXT_ENCODER}",  # umT5-XXL: fixed at 5.7B parameters in ComfyUI
                    f"checkpoints/{SAM31_CHECKPOINT}")  # SAM3.1: fixed at 519.7M parameters (and its text encoder)


def ensure_tiny_models(cache_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """The tiny random-weight stand-ins for the model files the example workflows load, as
    ``{path under models/: file}`` (built once, cached): the SD1.5 checkpoint and ControlNet,
    the Wan 2.1 T2V diffusion model, the Wan I2V model under both Wan 2.2 I2V experts' names and
    the Wan 2.1 VAE. The generators live in ``tools/``."""
    wan_i2v = tiny_video_models.ensure_tiny_model("wan_i2v", cache_dir)
    return {
        f"checkpoints/{CHECKPOINT_NAME}": tiny_checkpoint.ensure_tiny_checkpoint(cache_dir),
        f"controlnet/{CONTROLNET_NAME}": tiny_controlnet.ensure_tiny_controlnet(cache_dir),
        f"diffusion_models/{WAN21_MODEL}": tiny_video_models.ensure_tiny_model("wan", cache_dir),
        f"diffusion_models/{WAN22_I2V_HIGH_NOISE}": wan_i2v,
        f"diffusion_models/{WAN22_I2V_LOW_NOISE}": wan_i2v,
        f"vae/{WAN21_VAE}": tiny_video_models.ensure_tiny_model("wan_vae", cache_dir),
    }


def write_example_clip(input_dir: str | os.PathLike) -> Path:
    """Write the example workflows' demo clip (``tools/example_clip.py``) into ``input_dir``, as an
    animated WebP and, for the VIDEO example's Load Video, as an MP4 with a sound track."""
    import example_clip  # tools/; needs numpy and Pillow (and PyAV for the video), so imported only here

    frames = example_clip.make_example_clip()
    try:
        example_clip.write_video(frames, Path(input_dir) / example_clip.VIDEO_FILE_NAME)
    except ImportError as error:  # PyAV: ComfyUI requires it, but this process may not be ComfyUI's Python
        log.warning("no %s for the VIDEO example (%s): its Load Video will report the file missing",
                    example_clip.VIDEO_FILE_NAME, error)
    return example_clip.write_animated_webp(frames, Path(input_dir) / example_clip.CLIP_FILE_NAME)


def prepare_base_dir(base_dir: str | os.PathLike, *, models: dict[str, str | os.PathLike] | None = None,
                     name_only_models: tuple[str, ...] = NAME_ONLY_MODELS, pack_dir: str | os.PathLike = REPO_ROOT,
                     settings: dict[str, Any] | None = None, write_clip: bool = True) -> Path:
    """Lay out a scratch ComfyUI base directory for ``--base-directory`` and return it.

    ``custom_nodes/`` holds only ``pack_dir`` (as ``comfyui-animatediff-detailer``); each file
    of ``models`` (``{path under models/: file}``, see :func:`ensure_tiny_models`) is linked
    under its path; each path of ``name_only_models`` gets an empty placeholder file (see
    :data:`NAME_ONLY_MODELS`); ``input/`` gets the demo clip; ``user/default/comfy.settings.json``
    gets ``settings`` (default :data:`FRONTEND_SETTINGS`).
    """
    base = Path(base_dir).resolve()
    for sub in ("custom_nodes", "input", "output", "temp", "user/default", "models/checkpoints", "models/controlnet"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    _symlink(base / "custom_nodes" / PACK_LINK_NAME, pack_dir)
    for name, target in (models or {}).items():
        _symlink(base / "models" / name, target)
    for name in name_only_models:
        placeholder = base / "models" / name
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_bytes(b"")
    if write_clip:
        write_example_clip(base / "input")
    settings_file = base / "user" / "default" / "comfy.settings.json"
    settings_file.write_text(json.dumps(FRONTEND_SETTINGS if settings is None else settings, indent=2))
    return base


# --- the server ---------------------------------------------------------------------------


class ServerError(RuntimeError):
    """ComfyUI did not start, or stopped answering; the message ends with the log's tail."""


class ComfyServer:
    """A ComfyUI ``main.py`` subprocess on 127.0.0.1, its log captured to ``<base>/comfyui.log``."""

    def __init__(self, comfy_path: str | os.PathLike, base_dir: str | os.PathLike, *, python: str | None = None,
                 port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.comfy_path = Path(comfy_path).resolve()
        self.base_dir = Path(base_dir).resolve()
        self.python = python or sys.executable
        self.port = port or free_port()
        self.extra_args = tuple(extra_args)
        self.log_path = self.base_dir / "comfyui.log"
        self.process: subprocess.Popen | None = None
        self.start_seconds = 0.0
        self._object_info: dict | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line: CPU, no API nodes, every folder and the database under the base dir."""
        return [self.python, str(self.comfy_path / "main.py"), "--listen", "127.0.0.1", "--port", str(self.port),
                "--cpu", "--disable-api-nodes", "--disable-auto-launch", "--base-directory", str(self.base_dir),
                "--database-url", f"sqlite:///{self.base_dir / 'comfyui.db'}", *self.extra_args]

    def start(self, timeout: float = 300.0) -> ComfyServer:
        """Start the server and wait until it answers HTTP; raise :class:`ServerError` if it does not."""
        if not (self.comfy_path / "main.py").is_file():
            raise ServerError(f"{self.comfy_path} is not a ComfyUI checkout (no main.py)")
        started = time.perf_counter()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log_file:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.command(), cwd=self.base_dir, stdout=log_file,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=True)
        log.info("ComfyUI pid %d starting on %s (log %s)", self.process.pid, self.url, self.log_path)
        self.wait_until_ready(timeout)
        self.start_seconds = time.perf_counter() - started
        log.info("ComfyUI answered after %.1fs", self.start_seconds)
        return self

    def wait_until_ready(self, timeout: float) -> None:
        """Poll ``/system_stats`` until it answers; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(f"ComfyUI exited with code {self.process.returncode}\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                self.get_json("/system_stats", timeout=5)
                return
            time.sleep(0.5)
        raise ServerError(f"ComfyUI did not answer within {timeout:.0f}s\n{self.log_tail()}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the server: SIGINT (ComfyUI's clean shutdown), then SIGTERM, then SIGKILL."""
        process = self.process
        if process is None:
            return None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        log.info("ComfyUI pid %d stopped with code %s", process.pid, process.returncode)
        return process.returncode

    def __enter__(self) -> ComfyServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # log

    def log_text(self) -> str:
        """Everything the server printed so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def loaded_custom_nodes(self) -> list[str]:
        """Folders listed under "Import times for custom nodes" in the log (failed ones included)."""
        folders = []
        in_block = False
        for line in self.log_text().splitlines():
            if "Import times for custom nodes" in line:
                in_block = True
                continue
            if in_block:
                if "seconds" not in line:
                    if folders:
                        break
                    continue
                folders.append(line.split("seconds", 1)[1].lstrip(": ").split(" ")[0].strip())
        return folders

    def import_failures(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if "IMPORT FAILED" in line or "Cannot import" in line]

    # HTTP

    def get_json(self, path: str, timeout: float = 30.0) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.loads(response.read())

    def post_json(self, path: str, data: Any, timeout: float = 30.0) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(data).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def object_info(self) -> dict:
        """Every node definition the server offers (``/object_info``), fetched once."""
        if self._object_info is None:
            self._object_info = self.get_json("/object_info", timeout=120)
        return self._object_info

    def wait_for_history(self, prompt_id: str, timeout: float = 600.0, poll: float = 1.0) -> dict:
        """Poll ``/history/<prompt_id>`` until the prompt finished (success or error); return its entry."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ServerError(f"ComfyUI exited while running {prompt_id}\n{self.log_tail()}")
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            status = (entry or {}).get("status") or {}
            if status.get("completed") or status.get("status_str") in ("success", "error"):
                return entry
            time.sleep(poll)
        raise TimeoutError(f"prompt {prompt_id} not finished after {timeout:.0f}s\n{self.log_tail()}")


def history_error(entry: dict) -> str | None:
    """ComfyUI's error message of a finished history entry, None when it succeeded."""
    status = entry.get("status") or {}
    if status.get("status_str") == "success" and status.get("completed"):
        return None
    for event, data in status.get("messages") or []:
        if event == "execution_error":
            return (f"{data.get('node_type')} (node {data.get('node_id')}): {data.get('exception_type')}: "
                    f"{data.get('exception_message')}\n" + "".join(data.get("traceback") or []))
        if event == "execution_interrupted":
            return "execution interrupted"
    return f"status {status.get('status_str')!r}, completed={status.get('completed')}"


def output_node_ids(entry: dict) -> list[int]:
    """Ids of the nodes that produced images, gifs or videos in a history entry."""
    ids = []
    for node_id, output in (entry.get("outputs") or {}).items():
        if any(output.get(key) for key in ("images", "gifs", "video", "animated")) and str(node_id).isdigit():
            ids.append(int(node_id))
    return sorted(ids)


# --- the browser --------------------------------------------------------------------------


def launch_chromium(playwright: Any, executable: str | None = None, headless: bool = True) -> Any:
    """Launch the system Chromium through playwright (never a downloaded browser)."""
    executable = executable or find_chromium()
    if executable is None:
        raise FileNotFoundError(f"no Chromium found (set {CHROMIUM_ENV} or install one of {CHROMIUM_CANDIDATES})")
    return playwright.chromium.launch(executable_path=executable, headless=headless, args=list(CHROMIUM_ARGS))


@dataclass
class LoadReport:
    """What the frontend said about a workflow it loaded."""

    node_types: list[str]
    unregistered_types: list[str]  # node types LiteGraph has no class for
    missing_nodes: list[dict]  # the frontend's missing-nodes store (what its errors panel lists)
    missing_models: list[dict]
    missing_media: list[dict]
    rejected_widgets: list[dict]
    console_errors: list[str] = field(default_factory=list)

    @property
    def missing_node_types(self) -> list[str]:
        """Unregistered types and the types the missing-nodes store lists, together."""
        reported = {entry if isinstance(entry, str) else entry.get("type") for entry in self.missing_nodes}
        return sorted(set(self.unregistered_types) | {t for t in reported if t})

    def problems(self) -> list[str]:
        """One line per problem; empty when the workflow loaded cleanly."""
        lines = [f"missing node type {t}" for t in self.missing_node_types]
        lines += [f"missing model: {json.dumps(m, default=str)[:300]}" for m in self.missing_models]
        lines += [f"missing media: {json.dumps(m, default=str)[:300]}" for m in self.missing_media]
        lines += [f"node {w['node']} ({w['type']}) widget {w['widget']}={w['value']!r} {w['reason']}"
                  for w in self.rejected_widgets]
        return lines


@dataclass
class QueueResult:
    """The server's answer to the frontend's ``POST /prompt``."""

    status: int
    prompt_id: str | None
    node_errors: dict
    error: Any
    body: Any


class ComfyPage:
    """One browser page on a ComfyUI server, with the frontend's load, queue and view actions."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.console: list[str] = []  # every console message of the page, as "type: text"
        self._load_mark = 0  # len(self.console) when the last workflow load began
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def _on_console(self, message: Any) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def console_errors(self, since_load: bool = True) -> list[str]:
        """Console errors and uncaught page errors (since the last workflow load, by default)."""
        lines = self.console[self._load_mark:] if since_load else self.console
        return [line for line in lines if line.startswith(("error:", "pageerror:"))]

    # opening

    def open(self, timeout: float = 180.0) -> ComfyPage:
        """Load the UI and wait until the app, its canvas and the file input exist."""
        started = time.perf_counter()
        self.page.goto(self.base_url + "/", wait_until="domcontentloaded", timeout=timeout * 1000)
        self.page.wait_for_function(_JS_READY, timeout=timeout * 1000, polling=250)
        self.wait_idle(timeout)
        log.info("frontend ready after %.1fs", time.perf_counter() - started)
        return self

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the workspace spinner is off and no workflow load is in progress."""
        self.page.wait_for_function("() => !window.app.extensionManager.spinner", timeout=timeout * 1000, polling=100)

    # loading

    def load_workflow(self, workflow: str | os.PathLike | dict, timeout: float = 120.0) -> None:
        """Load a workflow the way the menu's *Open* does: a file given to ``#comfy-file-input``.

        Its change handler awaits ``app.handleFile(file, 'file_button')`` and then clears the
        input, so an empty input value means the load finished. A dict is written to a
        temporary ``.json`` file first.
        """
        with _workflow_file(workflow) as path:
            self._load_mark = len(self.console)
            file_input = self.page.locator("#comfy-file-input")
            file_input.set_input_files(str(path))
            try:
                self.page.wait_for_function("() => document.getElementById('comfy-file-input').value === ''",
                                            timeout=timeout * 1000, polling=100)
            except Exception as error:  # noqa: BLE001 - playwright's TimeoutError
                raise RuntimeError(f"loading {path} did not finish: {error}; console errors: "
                                   f"{self.console_errors()}") from error
        self.wait_idle(timeout)
        self.page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")

    def load_workflow_via_handle_file(self, workflow: str | os.PathLike | dict) -> None:
        """Load through ``app.handleFile(new File(...))`` directly (what drag-and-drop ends in)."""
        data = workflow if isinstance(workflow, dict) else json.loads(Path(workflow).read_text())
        name = "workflow.json" if isinstance(workflow, dict) else Path(workflow).name
        self._load_mark = len(self.console)
        self.page.evaluate("""async ([text, name]) => {
            const file = new File([text], name, {type: 'application/json'});
            await window.app.handleFile(file, 'file_drop');
        }""", [json.dumps(data), name])
        self.wait_idle()

    def serialize(self) -> dict:
        """``app.rootGraph.serialize()``: the graph as the frontend would save it."""
        return self.page.evaluate("() => JSON.parse(JSON.stringify(window.app.rootGraph.serialize()))")

    def load_report(self) -> LoadReport:
        """What the frontend reports about the graph now loaded."""
        stores = self.page.evaluate(_JS_STORES, ["missingNodesError", "missingModel", "missingMedia", "executionError"])
        node_types = self.page.evaluate("() => window.app.rootGraph.nodes.map((n) => n.type)")
        return LoadReport(node_types=node_types, unregistered_types=self.page.evaluate(_JS_UNREGISTERED),
                          missing_nodes=stores["missingNodes"], missing_models=stores["missingModels"],
                          missing_media=stores["missingMedia"],
                          rejected_widgets=self.page.evaluate(_JS_REJECTED_WIDGETS),
                          console_errors=self.console_errors())

    def error_state(self) -> dict:
        """The frontend's execution-error store: last node errors, prompt error, execution error."""
        stores = self.page.evaluate(_JS_STORES, ["executionError"])
        return {key: stores[key] for key in ("lastNodeErrors", "lastPromptError", "lastExecutionError")}

    # queueing

    def queue(self, via: str = "button", timeout: float = 120.0) -> QueueResult:
        """Queue the loaded graph through the frontend and return the ``/prompt`` response.

        ``via="button"`` clicks the *Run* button (``data-testid="queue-button"``);
        ``via="app"`` calls ``app.queuePrompt(0, 1)``. Either way the frontend builds the API
        prompt itself (``graphToPrompt``) and posts it.
        """
        def is_prompt_post(response: Any) -> bool:
            return response.url.split("?")[0].endswith("/prompt") and response.request.method == "POST"

        with self.page.expect_response(is_prompt_post, timeout=timeout * 1000) as info:
            if via == "button":
                self.page.get_by_test_id("queue-button").click()
            elif via == "app":
                self.page.evaluate("() => { window.app.queuePrompt(0, 1); }")
            else:
                raise ValueError(f"via must be 'button' or 'app', not {via!r}")
        response = info.value
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - a non-JSON error page
            body = {"error": response.text()}
        body = body if isinstance(body, dict) else {"error": body}
        result = QueueResult(status=response.status, prompt_id=body.get("prompt_id"),
                             node_errors=body.get("node_errors") or {}, error=body.get("error"), body=body)
        log.info("queued: HTTP %d, prompt %s, %d node errors", result.status, result.prompt_id, len(result.node_errors))
        return result

    def wait_for_images(self, node_ids: list[int], timeout: float = 60.0) -> bool:
        """Wait until every node in ``node_ids`` shows loaded output images; False on timeout."""
        try:
            self.page.wait_for_function(_JS_IMAGES_SHOWN, arg=node_ids, timeout=timeout * 1000, polling=250)
            return True
        except Exception as error:  # noqa: BLE001 - playwright's TimeoutError
            log.warning("output images of nodes %s not shown after %.0fs: %s", node_ids, timeout, error)
            return False

    # views and screenshots

    def set_focus_mode(self, on: bool) -> None:
        """Focus mode hides the menus and side bars, leaving the canvas alone on the page."""
        self.page.evaluate("(on) => { window.app.extensionManager.focusMode = on; }", on)

    def fit_view(self, node_ids: list[int] | None = None, zoom: float = 0.9) -> dict | None:
        """Fit the canvas to ``node_ids`` (all nodes when None) without animation; ``zoom`` is
        the share of the canvas the nodes' bounds may fill. Returns the bounds on the page
        (``x``, ``y``, ``width``, ``height`` in CSS pixels), None for an empty graph."""
        rect = self.page.evaluate(_JS_FIT_VIEW, [node_ids or [], zoom])
        self.settle()
        return rect or None

    def settle(self, frames: int = 3) -> None:
        """Let the canvas render a few frames (DOM widgets follow the canvas one frame late)."""
        self.page.evaluate("""(frames) => new Promise((resolve) => {
            const step = (n) => n <= 0 ? resolve() : requestAnimationFrame(() => step(n - 1));
            step(frames);
        })""", frames)

    def screenshot(self, path: str | os.PathLike, node_ids: list[int] | None = None, focus: bool = True,
                   crop: int | None = 32) -> Path:
        """Screenshot the page with the view fitted to ``node_ids`` (all nodes when None).

        ``focus`` hides the menus first (and shows them again afterwards), so the image shows
        the graph alone; ``crop`` clips the image to the nodes plus that many pixels around
        them (None: the whole page).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if focus:
            self.set_focus_mode(True)
            self.settle()
        try:
            rect = self.fit_view(node_ids)
            clip = _clip(rect, crop, self.page.viewport_size) if rect and crop is not None else None
            self.page.screenshot(path=str(path), style=_SCREENSHOT_CSS, clip=clip)
        finally:
            if focus:
                self.set_focus_mode(False)
        log.info("screenshot %s", path)
        return path


def _clip(rect: dict, margin: int, viewport: dict | None) -> dict:
    """``rect`` grown by ``margin`` on every side, kept inside the viewport, in whole pixels."""
    width, height = (viewport or VIEWPORT)["width"], (viewport or VIEWPORT)["height"]
    x0, y0 = max(0, int(rect["x"] - margin)), max(0, int(rect["y"] - margin))
    x1 = min(width, int(rect["x"] + rect["width"] + margin + 1))
    y1 = min(height, int(rect["y"] + rect["height"] + margin + 1))
    return {"x": x0, "y": y0, "width": max(1, x1 - x0), "height": max(1, y1 - y0)}


@contextlib.contextmanager
def _workflow_file(workflow: str | os.PathLike | dict) -> Iterator[Path]:
    """``workflow`` as a file path (a dict is written to a temporary ``.json`` file)."""
    if not isinstance(workflow, dict):
        yield Path(workflow)
        return
    with tempfile.TemporaryDirectory(prefix="adt-workflow-") as directory:
        path = Path(directory) / "workflow.json"
        path.write_text(json.dumps(workflow))
        yield path


@contextlib.contextmanager
def open_browser(base_url: str, *, executable: str | None = None, viewport: dict | None = None) -> Iterator[Any]:
    """Playwright + Chromium; yields a function ``new_page(base_url=None) -> ComfyPage`` (each in a fresh
    context; on another server's frontend when ``base_url`` is given)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, executable)
        contexts = []

        def new_page(url: str | None = None) -> ComfyPage:
            context = browser.new_context(viewport=viewport or VIEWPORT, device_scale_factor=1)
            contexts.append(context)
            return ComfyPage(context.new_page(), url or base_url)

        try:
            yield new_page
        finally:
            for context in contexts:
                with contextlib.suppress(Exception):
                    context.close()
            browser.close()


@contextlib.contextmanager
def example_server(comfy_path: str | os.PathLike, *, keep: bool = False) -> Iterator[ComfyServer]:
    """ComfyUI serving this pack alone from a new scratch base directory holding the tiny
    models under the example workflows' names and the demo clip (removed afterwards unless ``keep``)."""
    base = Path(tempfile.mkdtemp(prefix="adt-comfy-"))
    try:
        prepare_base_dir(base, models=ensure_tiny_models())
        with ComfyServer(comfy_path, base) as server:
            yield server
    finally:
        if keep:
            log.info("scratch base directory kept: %s", base)
        else:
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def open_frontend(base_url: str) -> Iterator[ComfyPage]:
    """One page of the frontend at ``base_url``, loaded and ready, in headless Chromium."""
    with open_browser(base_url) as new_page:
        yield new_page().open()


# --- comparing a file with what the frontend serializes -----------------------------------


def _link_tuples(graph: dict) -> list[tuple]:
    """Links as ``(id, origin_id, origin_slot, target_id, target_slot, type)`` (0.4 arrays or 1.0 objects)."""
    out = []
    for link in graph.get("links") or []:
        if isinstance(link, dict):
            link = [link.get("id"), link.get("origin_id"), link.get("origin_slot"), link.get("target_id"),
                    link.get("target_slot"), link.get("type")]
        out.append(tuple(link[:6]))
    return sorted(out, key=lambda t: (t[0] is None, t[0]))


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return a == b


def saved_widget_defaults(object_info: dict) -> Callable[[str], list | None]:
    """``node type -> [default of each saved widget slot, in the frontend's order]`` over a
    server's ``/object_info`` (None for a type it does not know), for :func:`graph_differences`."""

    def defaults(node_type: str) -> list | None:
        definition = object_info.get(node_type)
        if definition is None:
            return None
        return [slot.default for slot in workflow_ui.widget_slots(definition, node_type) if slot.saved]

    return defaults


def _widget_value_difference(file_values: list, live_values: list, defaults: list | None) -> str | None:
    """Why the frontend's ``widgets_values`` differ from the file's, None when they agree.

    A file saved by an older version of a node stores fewer values; the frontend then appends
    the newer widgets' defaults. That is accepted only when ``defaults`` (the node's saved
    widget defaults) is given and the appended values are exactly those defaults.
    """
    if _same_value(file_values, live_values):
        return None
    count = len(file_values)
    if defaults is None or len(live_values) <= count or not _same_value(file_values, live_values[:count]):
        return "differ"
    expected_tail = defaults[count:len(live_values)]
    if not _same_value(live_values[count:], expected_tail):
        return f"the values appended to an older save are not the widget defaults {expected_tail!r}"
    return None


def graph_differences(saved: dict, serialized: dict,
                      widget_defaults: Callable[[str], list | None] | None = None) -> list[str]:
    """Where ``serialized`` (the frontend's ``serialize()``) differs from a saved file: node ids
    and types, links, and each node's ``widgets_values``. Empty when they agree.

    With ``widget_defaults`` (see :func:`saved_widget_defaults`), a node whose file stores fewer
    widget values than the frontend saves (an older save) agrees when the extra values are the
    widgets' defaults; without it, every difference in ``widgets_values`` is reported.
    """
    problems = []
    saved_nodes = {str(n["id"]): n for n in saved.get("nodes") or []}
    live_nodes = {str(n["id"]): n for n in serialized.get("nodes") or []}
    for node_id in sorted(saved_nodes.keys() ^ live_nodes.keys()):
        where = "file" if node_id in saved_nodes else "frontend"
        problems.append(f"node {node_id} only in the {where}")
    for node_id in sorted(saved_nodes.keys() & live_nodes.keys(), key=lambda k: (len(k), k)):
        file_node, live_node = saved_nodes[node_id], live_nodes[node_id]
        if file_node.get("type") != live_node.get("type"):
            problems.append(f"node {node_id}: type {file_node.get('type')!r} in the file, {live_node.get('type')!r} loaded")
        file_values, live_values = file_node.get("widgets_values"), live_node.get("widgets_values")
        defaults = widget_defaults(file_node.get("type")) if widget_defaults else None
        why = _widget_value_difference(file_values or [], live_values or [], defaults)
        if why:
            problems.append(f"node {node_id} ({file_node.get('type')}): widgets_values {file_values!r} in the file, "
                            f"{live_values!r} as the frontend saves them ({why})")
    file_links, live_links = _link_tuples(saved), _link_tuples(serialized)
    if file_links != live_links:
        only_file = sorted(set(file_links) - set(live_links), key=str)
        only_live = sorted(set(live_links) - set(file_links), key=str)
        problems.append(f"links differ: only in the file {only_file}, only as the frontend saves them {only_live}")
    return problems


# --- one-shot use -------------------------------------------------------------------------


@dataclass
class WorkflowRun:
    """Everything :func:`check_workflow` found out about one workflow."""

    report: LoadReport
    differences: list[str]
    graph_png: Path | None = None
    queue: QueueResult | None = None
    history: dict | None = None
    error: str | None = None
    result_png: Path | None = None
    seconds: float = 0.0


def check_workflow(page: ComfyPage, server: ComfyServer, workflow: str | os.PathLike, out_dir: str | os.PathLike,
                   *, run: bool = True, via: str = "button", timeout: float = 900.0) -> WorkflowRun:
    """Load ``workflow``, report, screenshot the graph; with ``run``, queue it, wait for the
    history entry and screenshot the output nodes. Screenshots go to ``out_dir/<stem>.graph.png``
    and ``out_dir/<stem>.result.png``."""
    started = time.perf_counter()
    path = Path(workflow)
    out_dir = Path(out_dir)
    page.load_workflow(path)
    result = WorkflowRun(report=page.load_report(),
                         differences=graph_differences(json.loads(path.read_text()), page.serialize(),
                                                       saved_widget_defaults(server.object_info())))
    result.graph_png = page.screenshot(out_dir / f"{path.stem}.graph.png")
    if run and not result.report.missing_node_types:
        result.queue = page.queue(via=via)
        if result.queue.prompt_id and not result.queue.node_errors:
            result.history = server.wait_for_history(result.queue.prompt_id, timeout=timeout)
            result.error = history_error(result.history)
            outputs = output_node_ids(result.history)
            if outputs:
                page.wait_for_images(outputs)
            result.result_png = page.screenshot(out_dir / f"{path.stem}.result.png", outputs or None)
        else:
            result.error = f"rejected: {json.dumps(result.queue.error)} node_errors={json.dumps(result.queue.node_errors)}"
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load workflows in ComfyUI's frontend (headless Chromium), "
                                                 "report problems, optionally run them, write screenshots.")
    parser.add_argument("workflows", nargs="+", type=Path)
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH"), help="ComfyUI checkout (default $COMFYUI_PATH)")
    parser.add_argument("--out", type=Path, default=Path("browser-artifacts"), help="screenshot folder")
    parser.add_argument("--run", action="store_true", help="queue each workflow and wait for its result")
    parser.add_argument("--keep", action="store_true", help="keep the scratch base directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.comfyui:
        parser.error("--comfyui or COMFYUI_PATH is required")
    failed = 0
    with example_server(args.comfyui, keep=args.keep) as server, open_frontend(server.url) as page:
        for workflow in args.workflows:
            outcome = check_workflow(page, server, workflow, args.out, run=args.run)
            problems = outcome.report.problems() + outcome.differences + ([outcome.error] if outcome.error else [])
            failed += bool(problems)
            status = "ok" if not problems else "PROBLEMS:\n  " + "\n  ".join(problems)
            log.info("%s (%.1fs): %s", workflow, outcome.seconds, status)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
