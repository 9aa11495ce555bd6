"""The example workflows as the template browser lists them: frontend 1.47 asks every card's picture at
``/api/workflow_templates/<pack folder>/<name>.jpg``, so each ``<name>.json`` ships a ``<name>.jpg``."""

from __future__ import annotations

from pathlib import Path

import template_thumbnails  # tools/
from PIL import Image

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "example_workflows"


def test_every_example_has_a_square_jpeg_thumbnail():
    examples = sorted(EXAMPLES_DIR.glob("*.json"))
    assert len(examples) >= 5
    for workflow in examples:
        thumbnail = workflow.with_suffix(".jpg")
        assert thumbnail.is_file(), f"{workflow.name} has no {thumbnail.name}: the template browser shows a placeholder"
        with Image.open(thumbnail) as picture:
            assert picture.format == "JPEG" and picture.width == picture.height >= 256, thumbnail.name
    assert {p.stem for p in EXAMPLES_DIR.glob("*.jpg")} == {p.stem for p in examples}, "a thumbnail without its workflow"


def test_a_thumbnail_shows_the_whole_graph_and_its_middle_larger(tmp_path):
    wide = Image.new("RGB", (1200, 400), (0, 0, 0))
    wide.paste((255, 0, 0), (0, 0, 100, 400))  # left edge: only in the overview
    wide.paste((0, 255, 0), (550, 150, 650, 250))  # the middle: in both
    wide.save(tmp_path / "graph.png")
    out = template_thumbnails.make_thumbnail(tmp_path / "graph.png", tmp_path / "graph.jpg")
    with Image.open(out) as picture:
        assert picture.size == (template_thumbnails.SIZE, template_thumbnails.SIZE) and picture.format == "JPEG"
        rgb = picture.convert("RGB")
        assert rgb.getpixel((10, 80))[0] > 200, "the overview shows the left edge"
        assert rgb.getpixel((256, 85))[1] > 200 and rgb.getpixel((256, 350))[1] > 200, "the middle, twice"
        assert rgb.getpixel((10, 350))[0] < 60, "the close-up leaves the edges out"
