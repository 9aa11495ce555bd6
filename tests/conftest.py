"""Load the pack as a package for the unit tests, the way ComfyUI does: from its folder,
under a module name of its own, with relative imports working. The pack folder itself is
never put on sys.path (its ``nodes/`` would shadow ComfyUI's ``nodes`` module); ``tools/``
is, so the tests import the tools by plain name, as the tools import each other."""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
if str(TOOLS_DIR) not in sys.path:
    sys.path.append(str(TOOLS_DIR))

from pack_paths import load_pack  # noqa: E402  (tools/ must be on sys.path first)

load_pack()
