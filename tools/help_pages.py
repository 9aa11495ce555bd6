"""Write the generated part of the node help pages the frontend shows (``web/docs/``).

ComfyUI's frontend shows ``/extensions/<pack folder>/docs/<node id>.md`` (``WEB_DIRECTORY`` is
``web``) in the node library's help and the side panel's *Info* tab, with relative pictures resolved
against ``docs/``. The pages of our own ids are written by hand; this tool writes the rest:

* one page per Impact Pack id we also answer to (only while Impact Pack is not installed): our
  page with a preface saying which id it is and which defaults differ under it. Every id needs a
  file of its own (a symlink does not survive every install);
* the pictures: ``crop_modes.png`` (drawn here), and ``before_after.png`` and ``tracks.png``
  scaled from the README's pictures in ``docs/``.

    python tools/help_pages.py            # rewrite them
    python tools/help_pages.py --check    # exit 1 when a generated page is out of date
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from pack_paths import REPO_ROOT, load_pack

log = logging.getLogger("help_pages")

HELP_DIR = REPO_ROOT / "web" / "docs"
# Pictures scaled from the README's: file name -> (source, largest width).
SCALED_PICTURES = {"before_after.png": (REPO_ROOT / "docs" / "before_after.png", 760),
                   "tracks.png": (REPO_ROOT / "docs" / "tracks.png", 900)}
BACKGROUND, FRAME, SUBJECT, UNION, TRACKED, TEXT = ((28, 28, 30), (110, 110, 118), (240, 190, 90), (255, 120, 40),
                                                    (60, 200, 255), (232, 232, 232))


def _value(value: Any) -> str:
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def alias_page(our_page: str, impact_id: str, our_id: str, display_name: str, differing: dict[str, Any]) -> str:
    """The help page of an Impact id: a preface, then our page without its title."""
    body = our_page.split("\n", 1)[1].lstrip("\n") if our_page.startswith("# ") else our_page
    defaults = ", ".join(f"`{name}` {_value(value)}" for name, value in differing.items())
    preface = [
        f"# {display_name} (Impact-compatible id)",
        "",
        f"> This is AnimateDiff Detailer's node answering to Impact Pack's id `{impact_id}`, registered only while",
        "> Impact Pack is not installed, so that workflows saved with Impact's node load and run. It takes Impact's",
        "> inputs in Impact's order, then ours." + (f" Under this id our inputs keep Impact's behaviour: {defaults}."
                                                  if defaults else ""),
        f"> Our own id, always registered, is `{our_id}`.",
        "",
    ]
    return "\n".join(preface) + "\n" + body


def alias_pages() -> dict[Path, str]:
    """Every generated page: path -> text."""
    package = load_pack()
    nodes = sys.modules[f"{package.__name__}.nodes"]
    registry = sys.modules[f"{package.__name__}.nodes.registry"]
    differing = registry.impact_alias_values(nodes.NODE_ENTRIES)
    pages = {}
    for entry in nodes.NODE_ENTRIES:
        if not entry.impact_id:
            continue
        our_id = registry.ID_PREFIX + entry.short_name
        our_page = (HELP_DIR / f"{our_id}.md").read_text(encoding="utf-8")
        pages[HELP_DIR / f"{entry.impact_id}.md"] = alias_page(our_page, entry.impact_id, our_id, entry.display_name,
                                                               differing.get(entry.impact_id, {}))
    return pages


def crop_modes_picture(width: int = 640, height: int = 210) -> Any:
    """Two frames side by side: a subject moving across each, one union crop around its whole path (left)
    and a tracked window following it (right)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    panel_w, top = (width - 30) // 2, 28
    path = [(40, 120), (95, 100), (150, 90), (205, 95), (250, 80)]
    radius, window = 16, 56
    for panel, (title, colour) in enumerate((("union: one crop for the whole clip", UNION),
                                             ("tracked: a window that follows the subject", TRACKED))):
        x0 = 10 + panel * (panel_w + 10)
        draw.rectangle([x0, top, x0 + panel_w, height - 10], outline=FRAME, width=2)
        draw.text((x0 + 4, 8), title, fill=TEXT, font=font)
        for index, (cx, cy) in enumerate(path):
            shade = 0.35 + 0.65 * index / (len(path) - 1)
            fill = tuple(int(c * shade + b * (1 - shade)) for c, b in zip(SUBJECT, BACKGROUND))
            draw.ellipse([x0 + cx - radius, cy - radius, x0 + cx + radius, cy + radius], fill=fill)
        if panel == 0:
            xs, ys = [x for x, _ in path], [y for _, y in path]
            draw.rectangle([x0 + min(xs) - radius - 12, min(ys) - radius - 12, x0 + max(xs) + radius + 12,
                            max(ys) + radius + 12], outline=colour, width=3)
        else:
            for cx, cy in path[::2]:
                draw.rectangle([x0 + cx - window // 2, cy - window // 2, x0 + cx + window // 2, cy + window // 2],
                               outline=colour, width=2)
    return image


def pictures() -> dict[Path, Any]:
    """Every picture of the help pages: path -> PIL image."""
    from PIL import Image

    out = {HELP_DIR / "crop_modes.png": crop_modes_picture()}
    for name, (source, largest) in SCALED_PICTURES.items():
        with Image.open(source) as picture:
            picture = picture.convert("RGB")
            if picture.width > largest:
                picture = picture.resize((largest, round(picture.height * largest / picture.width)), Image.LANCZOS)
            out[HELP_DIR / name] = picture
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the generated pages are up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pages = alias_pages()
    if args.check:
        stale = [path.name for path, text in pages.items()
                 if not path.is_file() or path.read_text(encoding="utf-8") != text]
        for name in stale:
            log.error("%s is out of date: run python tools/help_pages.py", name)
        return 1 if stale else 0
    HELP_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
        log.info("wrote %s", path.relative_to(REPO_ROOT))
    for path, picture in pictures().items():
        picture.save(path, optimize=True)
        log.info("wrote %s (%dx%d)", path.relative_to(REPO_ROOT), picture.width, picture.height)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
