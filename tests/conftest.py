"""Load the pack as a package for the unit tests, the way ComfyUI does: from its folder,
under a module name of its own, with relative imports working. The pack folder itself is
never put on sys.path (its ``nodes/`` would shadow ComfyUI's ``nodes`` module); ``tools/``
is, so the tests import the tools by plain name, as the tools import each other."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
if str(TOOLS_DIR) not in sys.path:
    sys.path.append(str(TOOLS_DIR))

from pack_paths import load_pack  # noqa: E402  (tools/ must be on sys.path first)

load_pack()


@pytest.fixture(scope="session")
def comfy_root() -> Path:
    """The ComfyUI checkout ``$COMFYUI_PATH`` of the real-ComfyUI and browser tiers (each tier
    skips its tests without it); a folder that is not a checkout fails the session."""
    value = os.environ.get("COMFYUI_PATH", "").strip()
    if not value:
        pytest.skip("COMFYUI_PATH not set: ComfyUI tiers skipped")
    path = Path(value).expanduser()
    missing = [name for name in ("main.py", "nodes.py", "comfy") if not (path / name).exists()]
    if missing or not (path / "comfy").is_dir():
        pytest.fail(f"COMFYUI_PATH={path} is not a ComfyUI checkout (no {', '.join(missing) or 'comfy/'})")
    return path.resolve()


BROWSER_TIER = Path(__file__).resolve().parent / "browser"


def pytest_collection_modifyitems(config, items):
    """The browser tier runs last: Playwright's sync API leaves its event loop registered as the running
    one, and the real-ComfyUI tier, in the same process, runs ComfyUI's own loop."""
    in_browser = [BROWSER_TIER in Path(str(item.path)).resolve().parents for item in items]
    items[:] = [item for item, last in zip(items, in_browser) if not last] + \
               [item for item, last in zip(items, in_browser) if last]
