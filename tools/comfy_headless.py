"""Run real ComfyUI 0.29 in-process, headless, on the CPU: the engine of ``tools/run_example.py``,
also used by the real-ComfyUI test tier and the benchmark.

ComfyUI is imported only by :meth:`ComfyHarness.boot` (never at import of this module). What
``boot`` does mirrors ComfyUI's ``main.py`` minus the web server:

* no CLI parsing; ``--cpu`` and ``--disable-api-nodes`` set before ``comfy.model_management``
  is imported;
* input/output/temp/user folders in a scratch directory (output optionally elsewhere); extra
  model folders (checkpoints, ControlNets, diffusion models, VAEs, ...) added to ComfyUI's search paths;
* a scratch ``custom_nodes`` folder holding symlinks to exactly the packs wanted is the only
  custom-node folder ComfyUI scans;
* a stand-in ``server.PromptServer.instance`` (packs touch it at import) that records the
  events the executor sends and passes them to listeners (progress display);
* ``nodes.init_extra_nodes`` loads comfy_extras and the custom nodes exactly as at startup;
* the progress-bar hook that ComfyUI's server installs (it honours Cancel on every progress
  update) is installed too.

Graphs are run the way the server's prompt worker runs them: on-prompt handlers and node
replacements applied, ``execution.validate_prompt``, then ``execution.PromptExecutor.execute_async``.
Only one ComfyUI can live in a process (module-level state everywhere).

Import this file by path (it is not in a package; the pack folder must never be on sys.path).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import itertools
import logging
import os
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("comfy_headless")

PACK_LINK_NAME = "comfyui-animatediff-detailer"  # this pack's folder name in the scratch custom_nodes
IMPACT_LINK_NAME = "ComfyUI-Impact-Pack"
ADE_LINK_NAME = "ComfyUI-AnimateDiff-Evolved"
# Files that identify a pack whatever its folder is called.
IMPACT_MARKER = os.path.join("modules", "impact", "impact_pack.py")
ADE_MARKER = os.path.join("animatediff", "nodes_gen2.py")

try:
    _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6") if sys.platform.startswith("linux") else None
    _LIBC.malloc_trim  # noqa: B018 - glibc only
except (OSError, AttributeError, TypeError):
    _LIBC = None


def find_pack(custom_nodes_dir: str | os.PathLike, marker: str) -> Path | None:
    """The enabled pack folder under ``custom_nodes_dir`` that has ``marker``, if any."""
    root = Path(custom_nodes_dir)
    if not root.is_dir():
        return None
    for entry in sorted(root.iterdir()):
        if entry.name.endswith(".disabled") or entry.name.startswith("."):
            continue
        if (entry / marker).is_file():
            return entry
    return None


# --- graphs ----------------------------------------------------------------------------------


class Graph:
    """An API-format prompt (what the frontend's "Save (API)" writes), built node by node.

    ``add`` returns the node id; ``out(node_id, slot)`` is a link to one of its outputs.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def add(self, class_type: str, node_id: str | None = None, **inputs: Any) -> str:
        node_id = node_id or str(next(self._ids))
        self.nodes[node_id] = {"class_type": class_type, "inputs": dict(inputs), "_meta": {"title": class_type}}
        return node_id

    @staticmethod
    def out(node_id: str, slot: int = 0) -> list:
        return [node_id, slot]

    def set(self, node_id: str, **inputs: Any) -> None:
        self.nodes[node_id]["inputs"].update(inputs)

    def prompt(self) -> dict[str, dict]:
        """A deep-enough copy for one run (the server mutates prompts when it applies replacements)."""
        return {k: {"class_type": v["class_type"], "inputs": dict(v["inputs"]), "_meta": dict(v["_meta"])}
                for k, v in self.nodes.items()}


# --- the stand-in server ---------------------------------------------------------------------


def make_fake_server():
    """An object with what packs and the executor use of ``server.PromptServer.instance``."""
    from aiohttp import web
    from app.node_replace_manager import NodeReplaceManager

    class FakePromptServer:
        def __init__(self) -> None:
            self.routes = web.RouteTableDef()
            self.app = web.Application()
            self.client_id = None
            self.last_node_id = None
            self.last_prompt_id = None
            self.number = 0
            self.loop = None
            self.supports = ["custom_nodes_from_web"]
            self.sockets: dict = {}
            self.sockets_metadata: dict = {}
            self.on_prompt_handlers: list = []
            self.node_replace_manager = NodeReplaceManager()
            self.events: deque = deque(maxlen=5000)  # (event name, data) for events with JSON-ish data
            self.binary_events: deque = deque(maxlen=500)  # (event type, data): previews
            self.listeners: list[Callable[[str, Any], None]] = []  # called with every JSON-ish event

        def send_sync(self, event, data, sid=None):
            if isinstance(event, str):
                for listener in self.listeners:
                    listener(event, data)
                self.events.append((event, data))
            else:
                self.binary_events.append((event, data))

        async def send(self, event, data, sid=None):
            self.send_sync(event, data, sid)

        def send_progress_text(self, text, node_id, sid=None):
            self.send_sync("progress_text", {"text": text, "node": node_id}, sid)

        def add_on_prompt_handler(self, handler):
            self.on_prompt_handlers.append(handler)

        def trigger_on_prompt(self, json_data):
            for handler in self.on_prompt_handlers:
                json_data = handler(json_data)
            return json_data

        def queue_updated(self):
            pass

    return FakePromptServer()


# --- running ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What one prompt execution produced."""

    prompt_id: str
    valid: bool
    validation_error: Any
    node_errors: dict
    success: bool
    interrupted: bool
    error: dict | None
    status_messages: list
    outputs: dict[str, list]  # node id -> one value per output slot (the first item of each slot's list)
    output_lists: dict[str, list]  # node id -> the raw per-slot lists (for OUTPUT_IS_LIST outputs)
    seconds: float
    finished_at: float = 0.0  # time.perf_counter() when the executor returned
    executor: Any = field(repr=False, default=None)
    ui: dict[str, dict] = field(default_factory=dict)  # node id -> what it showed in the frontend ("images", ...)

    def output(self, node_id: str, slot: int = 0) -> Any:
        return self.outputs[node_id][slot]

    def describe_failure(self) -> str:
        if not self.valid:
            return f"validation failed: {self.validation_error} node_errors={self.node_errors}"
        if self.error:
            return f"{self.error.get('exception_type')}: {self.error.get('exception_message')}\n" + "".join(
                self.error.get("traceback") or [])
        return "interrupted" if self.interrupted else "ok"


class ComfyHarness:
    """One headless ComfyUI in this process, with the given packs loaded from a scratch custom_nodes folder."""

    def __init__(self, comfy_path: str | os.PathLike, work_dir: str | os.PathLike,
                 packs: dict[str, str | os.PathLike], model_dirs: dict[str, list[str | os.PathLike]] | None = None,
                 output_dir: str | os.PathLike | None = None, cpu: bool = True) -> None:
        self.comfy_path = Path(comfy_path).resolve()
        self.work_dir = Path(work_dir)
        self.packs = {name: Path(path) for name, path in packs.items()}
        # ComfyUI model folder kind ("checkpoints", "controlnet", "diffusion_models", "vae", ...) -> extra folders
        self.model_dirs = {kind: [Path(p) for p in dirs] for kind, dirs in (model_dirs or {}).items()}
        self.custom_nodes_dir = self.work_dir / "custom_nodes"
        self.cpu = cpu  # False: ComfyUI's default device
        self.output_dir = Path(output_dir) if output_dir is not None else self.work_dir / "output"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server = None
        self.import_warnings: list[str] = []
        self.builtin_import_failures: list[str] = []
        self.boot_seconds = 0.0
        self.timings: list[tuple[str, float]] = []  # (label, seconds) of every labelled run
        self._booted = False

    # boot

    def _check_comfy_path(self) -> None:
        if not (self.comfy_path / "nodes.py").is_file() or not (self.comfy_path / "comfy").is_dir():
            raise RuntimeError(f"COMFYUI_PATH={self.comfy_path} is not a ComfyUI checkout (no nodes.py / comfy/)")
        if "comfy.model_management" in sys.modules:
            raise RuntimeError("comfy.model_management was imported before the harness could set --cpu")

    def _make_dirs(self) -> None:
        for sub in ("input", "temp", "user"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.custom_nodes_dir.mkdir(parents=True, exist_ok=True)
        for name, target in self.packs.items():
            link = self.custom_nodes_dir / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target.resolve(), target_is_directory=True)

    def boot(self) -> ComfyHarness:
        if self._booted:
            return self
        started = time.perf_counter()
        self._check_comfy_path()
        self._make_dirs()
        comfy_dir = str(self.comfy_path)
        if comfy_dir not in sys.path:
            sys.path.insert(0, comfy_dir)

        import comfy.options

        comfy.options.enable_args_parsing(False)
        import comfy.cli_args

        comfy.cli_args.args.cpu = self.cpu
        comfy.cli_args.args.disable_api_nodes = True

        import folder_paths

        folder_paths.set_output_directory(str(self.output_dir))
        folder_paths.set_input_directory(str(self.work_dir / "input"))
        folder_paths.set_temp_directory(str(self.work_dir / "temp"))
        folder_paths.set_user_directory(str(self.work_dir / "user"))
        folder_paths.folder_names_and_paths["custom_nodes"] = ([str(self.custom_nodes_dir)], set())
        for kind, directories in self.model_dirs.items():  # what the loader nodes list and load
            for directory in directories:
                folder_paths.add_model_folder_path(kind, str(directory), is_default=True)

        import server

        self.server = make_fake_server()
        server.PromptServer.instance = self.server

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.server.loop = self.loop

        import comfy.model_management
        import hook_breaker_ac10a0
        import nodes

        capture = _WarningCapture()
        logging.getLogger().addHandler(capture)
        # Some packs resolve paths against the working directory, as they would under main.py.
        cwd = os.getcwd()
        os.chdir(comfy_dir)
        try:
            hook_breaker_ac10a0.save_functions()
            self.builtin_import_failures = self.loop.run_until_complete(
                nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
            hook_breaker_ac10a0.restore_functions()
        finally:
            os.chdir(cwd)
            logging.getLogger().removeHandler(capture)
        self.import_warnings = capture.messages
        self._install_progress_hook()
        self.boot_seconds = time.perf_counter() - started
        self._booted = True
        log.info("ComfyUI booted in %.1fs on %s", self.boot_seconds, comfy.model_management.get_torch_device())
        return self

    def _install_progress_hook(self) -> None:
        """The hook main.py's ``hijack_progress`` installs: every progress update honours Cancel."""
        import comfy.model_management
        import comfy.utils
        from comfy_execution.progress import get_progress_state
        from protocol import BinaryEventTypes
        from comfy_execution.utils import get_executing_context

        server = self.server

        def hook(value, total, preview_image, prompt_id=None, node_id=None):
            context = get_executing_context()
            if prompt_id is None and context is not None:
                prompt_id = context.prompt_id
            if node_id is None and context is not None:
                node_id = context.node_id
            comfy.model_management.throw_exception_if_processing_interrupted()
            prompt_id = prompt_id or server.last_prompt_id
            node_id = node_id or server.last_node_id
            get_progress_state().update_progress(node_id, value, total, preview_image)
            server.send_sync("progress", {"value": value, "max": total, "prompt_id": prompt_id, "node": node_id})
            if preview_image is not None:
                server.send_sync(BinaryEventTypes.UNENCODED_PREVIEW_IMAGE, preview_image)

        comfy.utils.set_progress_bar_global_hook(hook)

    # lookups

    @property
    def nodes(self):
        import nodes

        return nodes

    def list_models(self, folder: str) -> list[str]:
        """The model file names ComfyUI lists for a model folder (e.g. ``"checkpoints"``)."""
        import folder_paths

        return folder_paths.get_filename_list(folder)

    def has_node(self, class_type: str) -> bool:
        return class_type in self.nodes.NODE_CLASS_MAPPINGS

    def node_class(self, class_type: str) -> type:
        return self.nodes.NODE_CLASS_MAPPINGS[class_type]

    def loaded_pack_dirs(self) -> dict[str, str]:
        """Module name -> folder, for the custom packs ComfyUI loaded from the scratch folder."""
        root = str(self.custom_nodes_dir)
        return {name: path for name, path in self.nodes.LOADED_MODULE_DIRS.items() if path.startswith(root)}

    def import_failures(self) -> list[str]:
        return [m for m in self.import_warnings if "Cannot import" in m or "IMPORT FAILED" in m]

    def pack_module(self, submodule: str, link_name: str = PACK_LINK_NAME):
        """A submodule of a pack as ComfyUI loaded it (its module name is the pack's path, dots escaped)."""
        name = str(self.custom_nodes_dir / link_name).replace(".", "_x_") + "." + submodule
        return sys.modules[name]

    def recorder(self):
        """The fixture pack's recorder (the module ComfyUI loaded, found through its node class)."""
        return self.node_class("TestRecordingModel").RECORDER

    # running

    def _run_coroutine(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def _collect_garbage(self) -> None:
        """What the server's prompt worker does between prompts (gc + emptying caches); models and
        graphs have reference cycles, and big tensors do not trigger Python's gc on their own."""
        import comfy.model_management

        gc.collect()
        comfy.model_management.soft_empty_cache()
        if _LIBC is not None:  # hand freed heap back to the OS, so RSS reflects what is alive
            _LIBC.malloc_trim(0)

    def validate(self, prompt: dict) -> tuple[bool, Any, list, dict]:
        import execution

        return self._run_coroutine(execution.validate_prompt(str(uuid.uuid4()), prompt, None))

    def prepare_prompt(self, prompt: dict) -> dict:
        """What the server does to a queued prompt before validating it: the packs' on-prompt
        handlers, then node replacements."""
        prompt = self.server.trigger_on_prompt({"prompt": prompt})["prompt"]
        self.server.node_replace_manager.apply_replacements(prompt)
        return prompt

    def run(self, graph: Graph | dict, *, label: str | None = None, apply_replacements: bool = True,
            check: bool = True, extra_data: dict | None = None, keep_models: bool = False) -> RunResult:
        """Validate and execute a prompt with a fresh executor (so nothing is served from a cache).

        ``check`` raises AssertionError with ComfyUI's error text when validation or execution fails;
        ``label`` records the run's duration in ``self.timings``; ``extra_data`` is what the frontend
        sends with a prompt (e.g. ``preview_method``). Outputs that hold models (MODEL, CLIP, VAE,
        CONTROL_NET, BASIC_PIPE, ADE's MOTION_MODEL_ADE and M_MODELS) are dropped unless ``keep_models``,
        so kept results do not keep models in memory.
        """
        import comfy.model_management
        import execution

        prompt = graph.prompt() if isinstance(graph, Graph) else graph
        if apply_replacements:
            prompt = self.prepare_prompt(prompt)
        prompt_id = str(uuid.uuid4())
        started = time.perf_counter()
        valid, error, outputs_to_execute, node_errors = self._run_coroutine(
            execution.validate_prompt(prompt_id, prompt, None))
        if not valid:
            result = RunResult(prompt_id, False, error, node_errors, False, False, None, [], {}, {},
                               time.perf_counter() - started)
            if check:
                raise AssertionError(result.describe_failure())
            return result

        executor = execution.PromptExecutor(self.server, cache_type=execution.CacheType.CLASSIC,
                                            cache_args={"lru": 0, "ram": 0.0, "ram_inactive": 0.0})
        self.server.last_prompt_id = prompt_id
        try:
            self._run_coroutine(executor.execute_async(prompt, prompt_id, dict(extra_data or {}), outputs_to_execute))
        finally:
            finished_at = time.perf_counter()
            comfy.model_management.interrupt_current_processing(False)
        seconds = finished_at - started
        if label:
            self.timings.append((label, seconds))
        self._collect_garbage()

        outputs: dict[str, list] = {}
        output_lists: dict[str, list] = {}
        ui: dict[str, dict] = {}
        for node_id in prompt:
            entry = self._run_coroutine(executor.caches.outputs.get(node_id))
            if entry is None:
                continue
            slots = entry.outputs if hasattr(entry, "outputs") else entry
            if not keep_models:
                slots = [None if _holds_model(slot) else slot for slot in slots]
            output_lists[node_id] = list(slots)
            outputs[node_id] = [slot[0] if isinstance(slot, list) and slot else slot for slot in slots]
            shown = getattr(entry, "ui", None)
            if shown:
                ui[node_id] = shown.get("output", shown)

        error_message = next((data for event, data in executor.status_messages if event == "execution_error"), None)
        interrupted = any(event == "execution_interrupted" for event, _ in executor.status_messages)
        result = RunResult(prompt_id, True, None, node_errors, bool(executor.success) and not interrupted
                           and error_message is None, interrupted, error_message, list(executor.status_messages),
                           outputs, output_lists, seconds, finished_at, executor if keep_models else None, ui)
        if check and not result.success:
            raise AssertionError(result.describe_failure())
        return result


def _holds_model(value: Any, depth: int = 0) -> bool:
    """Whether a node output is or contains a ModelPatcher, CLIP, VAE or ControlNet (also inside a
    group object with a ``models`` list, such as AnimateDiff-Evolved's M_MODELS)."""
    if depth > 3:
        return False
    if any(hasattr(value, attr) for attr in ("model_options", "cond_stage_model", "first_stage_model", "control_model")):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_model(item, depth + 1) for item in value)
    models = getattr(value, "models", None)
    return isinstance(models, list) and _holds_model(models, depth + 1)


class _WarningCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a malformed log call in some pack must not break the boot
            pass
