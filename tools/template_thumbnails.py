"""Thumbnails for the template browser: ``example_workflows/<name>.jpg`` from ``<name>.png``.

ComfyUI's frontend (1.47) lists a pack's ``example_workflows/*.json`` under *Browse Templates ->
Extensions* and asks each card's picture at ``/api/workflow_templates/<pack folder>/<name>.jpg``:
always ``.jpg``, never the ``.png`` beside it. The cards are square. A thumbnail here is a square
JPEG: the whole graph on top, the middle of it larger below, both cut from the graph's screenshot
(the README's ``<name>.png``, written by the browser tier with ``ADT_UPDATE_PREVIEWS=1``).

    python tools/template_thumbnails.py            # every example_workflows/*.png
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pack_paths import REPO_ROOT

log = logging.getLogger("template_thumbnails")

EXAMPLES_DIR = REPO_ROOT / "example_workflows"
SIZE = 512
GAP = 6
BACKGROUND = (32, 32, 34)  # the frontend's dark canvas
QUALITY = 85


def make_thumbnail(screenshot: str | Path, out: str | Path, size: int = SIZE) -> Path:
    """Write the square JPEG thumbnail of a graph screenshot to ``out``."""
    from PIL import Image

    out = Path(out)
    with Image.open(screenshot) as picture:
        graph = picture.convert("RGB")
    canvas = Image.new("RGB", (size, size), BACKGROUND)
    overview_h = max(1, min(size // 2, round(graph.height * size / graph.width)))
    overview = graph.resize((size, overview_h), Image.LANCZOS) if graph.width >= graph.height else None
    if overview is None:  # a tall graph: fit it whole
        fitted = graph.copy()
        fitted.thumbnail((size, size), Image.LANCZOS)
        canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    else:
        canvas.paste(overview, (0, 0))
        close_h = size - overview_h - GAP
        scale = close_h / graph.height
        crop_w = min(graph.width, round(size / scale))
        left = (graph.width - crop_w) // 2
        close_up = graph.crop((left, 0, left + crop_w, graph.height)).resize((size, close_h), Image.LANCZOS)
        canvas.paste(close_up, (0, overview_h + GAP))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, format="JPEG", quality=QUALITY, optimize=True, progressive=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("screenshots", nargs="*", type=Path, help="graph screenshots (default: example_workflows/*.png)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for screenshot in args.screenshots or sorted(EXAMPLES_DIR.glob("*.png")):
        out = make_thumbnail(screenshot, screenshot.with_suffix(".jpg"))
        log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
