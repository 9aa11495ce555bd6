"""Load the pack as a package for the unit tests, the way ComfyUI does: from its folder,
under a module name of its own, with relative imports working. The pack folder itself is
never put on sys.path (its ``nodes/`` would shadow ComfyUI's ``nodes`` module)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parent.parent
PACK_MODULE = "animatediff_detailer"


def load_pack():
    if PACK_MODULE in sys.modules:
        return sys.modules[PACK_MODULE]
    spec = importlib.util.spec_from_file_location(
        PACK_MODULE, PACK_ROOT / "__init__.py", submodule_search_locations=[str(PACK_ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_MODULE] = module
    spec.loader.exec_module(module)
    return module


load_pack()
