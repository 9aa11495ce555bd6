"""Skip logic and session fixtures of the real-ComfyUI tier.

The tier runs only when ``COMFYUI_PATH`` points at a ComfyUI checkout (0.29); without it
every test here is skipped with one reason. ComfyUI is imported only inside the session
fixture, so collection never needs it. One ComfyUI is booted per pytest session, with this
repository, the fixture pack and (when installed in ``$COMFYUI_PATH/custom_nodes``) Impact
Pack and AnimateDiff-Evolved; the tiny checkpoint, the tiny ControlNet and the tiny video models
(Wan 2.1 and 2.2 diffusion models, Wan 2.1 and LTX-Video VAEs) are in its model folders (with
``ADT_SLOW=1`` also a full-size SD1.5 checkpoint, an AnimateDiff motion module and a full-width
Wan 2.2 VAE).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from comfy_harness import (
    ADE_LINK_NAME,
    CHECKPOINT_NAME,
    CONTROLNET_NAME,
    ADE_MARKER,
    FIXTURE_LINK_NAME,
    FIXTURE_PACK_DIR,
    FULL_CHECKPOINT_NAME,
    IMPACT_LINK_NAME,
    IMPACT_MARKER,
    MOTION_MODULE_NAME,
    PACK_LINK_NAME,
    REPO_ROOT,
    ComfyHarness,
    find_pack,
    slow_tests_enabled,
)

COMFY_ENV = "COMFYUI_PATH"
SKIP_REASON = "COMFYUI_PATH not set: real-ComfyUI tier skipped"
HERE = Path(__file__).resolve().parent

# The video models (tools/tiny_video_models.py) by kind, as named in ComfyUI's model folders
# (tiny_video_models.MODEL_FOLDERS says which). wan22_vae is served only with ADT_SLOW=1.
VIDEO_MODEL_NAMES = {
    "wan": "adtest-tiny-wan21-t2v.safetensors",
    "wan_low_noise": "adtest-tiny-wan21-t2v-low-noise.safetensors",
    "vace": "adtest-tiny-wan21-vace.safetensors",
    "wan_i2v": "adtest-tiny-wan21-i2v.safetensors",
    "wan_flf": "adtest-tiny-wan21-flf2v.safetensors",
    "wan_fun_control": "adtest-tiny-wan21-fun-control.safetensors",
    "wan_camera": "adtest-tiny-wan21-camera.safetensors",
    "wan22_ti2v": "adtest-tiny-wan22-ti2v.safetensors",
    "wan22_fun_control": "adtest-tiny-wan22-fun-control.safetensors",
    "wan_vae": "adtest-tiny-wan21-vae.safetensors",
    "ltxv_vae": "adtest-tiny-ltxv-vae.safetensors",
    "wan22_vae": "adtest-wan22-vae.safetensors",
}

# Timings and measurements collected during the session, printed in the terminal summary.
REPORT: dict[str, list] = {"timings": [], "measurements": []}


def comfyui_path() -> Path | None:
    value = os.environ.get(COMFY_ENV, "").strip()
    return Path(value).expanduser() if value else None


def pytest_collection_modifyitems(config, items):
    if comfyui_path() is not None:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE == Path(str(item.path)).resolve().parent or HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not REPORT["timings"] and not REPORT["measurements"]:
        return
    terminalreporter.section("real-ComfyUI tier")
    for label, seconds in REPORT["timings"]:
        terminalreporter.write_line(f"{seconds:7.2f}s  {label}")
    for line in REPORT["measurements"]:
        terminalreporter.write_line(f"measured: {line}")


@pytest.fixture(scope="session")
def report():
    """Append ``(label, seconds)`` to ``report['timings']`` or text to ``report['measurements']``."""
    return REPORT


@pytest.fixture(scope="session")
def installed_packs(comfy_root) -> dict[str, Path | None]:
    """The third-party packs installed in $COMFYUI_PATH/custom_nodes (None when absent)."""
    custom_nodes = comfy_root / "custom_nodes"
    return {"impact": find_pack(custom_nodes, IMPACT_MARKER), "animatediff": find_pack(custom_nodes, ADE_MARKER)}


def _timed_build(label: str, ensure) -> str:
    started = time.perf_counter()
    path = ensure()
    REPORT["timings"].append((label, time.perf_counter() - started))
    return path


def _model_folder(tmp_path_factory, kind: str, files: dict[str, str]) -> Path:
    """A scratch model folder of ``kind`` holding each target of ``files`` (name -> target)."""
    directory = tmp_path_factory.mktemp(kind)
    for name, target in files.items():
        (directory / name).symlink_to(target)
    return directory


@pytest.fixture(scope="session")
def tiny_checkpoint() -> str:
    from tiny_checkpoint import ensure_tiny_checkpoint

    return _timed_build("tiny checkpoint ready", ensure_tiny_checkpoint)


@pytest.fixture(scope="session")
def checkpoints_dir(tmp_path_factory, tiny_checkpoint) -> Path:
    return _model_folder(tmp_path_factory, "checkpoints", {CHECKPOINT_NAME: tiny_checkpoint})


@pytest.fixture(scope="session")
def tiny_controlnet() -> str:
    from tiny_controlnet import ensure_tiny_controlnet

    return _timed_build("tiny ControlNet ready", ensure_tiny_controlnet)


@pytest.fixture(scope="session")
def controlnet_dir(tmp_path_factory, tiny_controlnet) -> Path:
    """A ``controlnet`` model folder holding the tiny ControlNet as CONTROLNET_NAME."""
    return _model_folder(tmp_path_factory, "controlnet", {CONTROLNET_NAME: tiny_controlnet})


@pytest.fixture(scope="session")
def tiny_video_models() -> dict[str, str]:
    """Paths of the tiny video models by kind (``tiny_video_models.FAST_KINDS``; the slow tier's
    full-width Wan 2.2 VAE is in ``slow_model_dirs``)."""
    from tiny_video_models import FAST_KINDS, ensure_tiny_model

    return {kind: _timed_build(f"tiny {kind} model ready", lambda kind=kind: ensure_tiny_model(kind))
            for kind in FAST_KINDS}


def _video_model_folder(tmp_path_factory, folder: str, paths: dict[str, str]) -> Path:
    """A scratch ``folder`` (``diffusion_models`` or ``vae``) holding those of ``paths`` (kind ->
    file) that ComfyUI loads from it, under their VIDEO_MODEL_NAMES."""
    from tiny_video_models import MODEL_FOLDERS

    return _model_folder(tmp_path_factory, folder, {VIDEO_MODEL_NAMES[kind]: path for kind, path in paths.items()
                                                    if MODEL_FOLDERS[kind] == folder})


@pytest.fixture(scope="session")
def video_model_names() -> dict[str, str]:
    """The tiny video models' names in ComfyUI's ``diffusion_models`` and ``vae`` folders, by kind."""
    return dict(VIDEO_MODEL_NAMES)


@pytest.fixture(scope="session")
def diffusion_models_dir(tmp_path_factory, tiny_video_models) -> Path:
    """A ``diffusion_models`` folder holding the tiny Wan diffusion models (every Wan kind)."""
    return _video_model_folder(tmp_path_factory, "diffusion_models", tiny_video_models)


@pytest.fixture(scope="session")
def vae_dir(tmp_path_factory, tiny_video_models) -> Path:
    """A ``vae`` folder holding the tiny Wan 2.1 and LTX-Video VAEs."""
    return _video_model_folder(tmp_path_factory, "vae", tiny_video_models)


@pytest.fixture(scope="session")
def slow_model_dirs(tmp_path_factory) -> dict[str, list[Path]]:
    """With ADT_SLOW=1, model folders holding SD1.5's full-UNet checkpoint (FULL_CHECKPOINT_NAME),
    the random AnimateDiff v2 motion module (MOTION_MODULE_NAME) and the full-width Wan 2.2 VAE
    (VIDEO_MODEL_NAMES["wan22_vae"]); empty otherwise, nothing built."""
    if not slow_tests_enabled():
        return {}
    from motion_models import ensure_motion_module, ensure_sd15_checkpoint
    from tiny_video_models import SLOW_KINDS, ensure_tiny_model

    checkpoint = _timed_build("full SD1.5 checkpoint ready", ensure_sd15_checkpoint)
    motion_module = _timed_build("AnimateDiff v2 motion module ready", ensure_motion_module)
    video_models = {kind: _timed_build(f"{kind} model ready", lambda kind=kind: ensure_tiny_model(kind))
                    for kind in SLOW_KINDS}
    return {"checkpoints": [_model_folder(tmp_path_factory, "checkpoints", {FULL_CHECKPOINT_NAME: checkpoint})],
            "animatediff_models": [_model_folder(tmp_path_factory, "animatediff_models",
                                                 {MOTION_MODULE_NAME: motion_module})],
            "vae": [_video_model_folder(tmp_path_factory, "vae", video_models)]}


@pytest.fixture(scope="session")
def comfy(comfy_root, installed_packs, checkpoints_dir, controlnet_dir, diffusion_models_dir, vae_dir, slow_model_dirs,
          tmp_path_factory) -> ComfyHarness:
    """ComfyUI booted in this process with our pack, the fixture pack and the installed third-party packs."""
    packs = {PACK_LINK_NAME: REPO_ROOT, FIXTURE_LINK_NAME: FIXTURE_PACK_DIR}
    if installed_packs["impact"] is not None:
        packs[IMPACT_LINK_NAME] = installed_packs["impact"]
    if installed_packs["animatediff"] is not None:
        packs[ADE_LINK_NAME] = installed_packs["animatediff"]
    model_dirs = {"checkpoints": [checkpoints_dir], "controlnet": [controlnet_dir],
                  "diffusion_models": [diffusion_models_dir], "vae": [vae_dir]}
    for kind, directories in slow_model_dirs.items():
        model_dirs[kind] = [*model_dirs.get(kind, []), *directories]
    harness = ComfyHarness(comfy_root, tmp_path_factory.mktemp("comfyui"), packs, model_dirs)
    harness.boot()
    harness.timings = REPORT["timings"]
    REPORT["timings"].append((f"ComfyUI boot with {', '.join(sorted(packs))}", harness.boot_seconds))
    missing = sorted({PACK_LINK_NAME, FIXTURE_LINK_NAME} - set(harness.loaded_pack_dirs()))
    if missing:
        pytest.fail(f"ComfyUI did not load {missing}; import warnings: {harness.import_failures()}")
    return harness


def _require_loaded(comfy: ComfyHarness, link_name: str, what: str, path: Path | None):
    if path is None:
        pytest.skip(f"{what} is not installed in {COMFY_ENV}/custom_nodes")
    if link_name not in comfy.loaded_pack_dirs():
        pytest.fail(f"{what} is installed ({path}) but ComfyUI could not import it: {comfy.import_failures()}")
    return path


@pytest.fixture(scope="session")
def impact(comfy, installed_packs):
    """Skip unless Impact Pack is installed; fail if it is but did not import."""
    return _require_loaded(comfy, IMPACT_LINK_NAME, "Impact Pack", installed_packs["impact"])


@pytest.fixture(scope="session")
def animatediff(comfy, installed_packs):
    """Skip unless AnimateDiff-Evolved is installed; fail if it is but did not import."""
    return _require_loaded(comfy, ADE_LINK_NAME, "AnimateDiff-Evolved", installed_packs["animatediff"])
