"""Import this repository's modules by file path, and the pack itself the way ComfyUI does.

The repository root is never put on ``sys.path``: its ``nodes/`` package would shadow
ComfyUI's ``nodes`` module. ``tools/`` is not a package either; its scripts import each other
by plain name (``tools/`` is ``sys.path[0]`` when one of them runs, and code elsewhere, the
test suite and the benchmark, appends :data:`TOOLS_DIR` to ``sys.path`` first). The pack
itself is imported by path through this module, as ComfyUI imports it.
Standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

TOOLS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOLS_DIR.parent
PACK_MODULE = "animatediff_detailer"  # the pack's module name when loaded by path, outside ComfyUI


def import_by_path(name: str, path: str | os.PathLike, *, package_dir: str | os.PathLike | None = None) -> ModuleType:
    """Import the file ``path`` as module ``name`` (reusing ``sys.modules[name]`` if present).

    With ``package_dir`` the module is a package rooted there, so its relative imports work.
    A module whose import fails is not left behind in ``sys.modules``.
    """
    if name in sys.modules:
        return sys.modules[name]
    locations = [str(package_dir)] if package_dir is not None else None
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path} as {name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_pack() -> ModuleType:
    """The pack imported as package :data:`PACK_MODULE` from its folder (ComfyUI not needed)."""
    return import_by_path(PACK_MODULE, REPO_ROOT / "__init__.py", package_dir=REPO_ROOT)

