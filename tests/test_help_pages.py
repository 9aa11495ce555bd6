"""The node help pages the frontend shows (``web/docs/<node id>.md`` under ``WEB_DIRECTORY``): one per id
the pack registers, each documenting every input and output of its node, its pictures present."""

from __future__ import annotations

import re
from pathlib import Path

import help_pages  # tools/
import pytest

import animatediff_detailer
from animatediff_detailer.nodes import NODE_ENTRIES
from animatediff_detailer.nodes.registry import build_mappings

REPO_ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = REPO_ROOT / animatediff_detailer.WEB_DIRECTORY
DOCS = WEB_DIR / "docs"


def every_registered_id() -> dict[str, type]:
    """Our ids and, as registered without Impact Pack, Impact's."""
    alone, _ = build_mappings(NODE_ENTRIES, impact_installed=False)
    beside, _ = build_mappings(NODE_ENTRIES, impact_installed=True)
    return {**beside, **alone}


NODES = every_registered_id()


def section(page: str, title: str) -> str:
    """The text of the page's ``## <title>`` section."""
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", page, flags=re.M | re.S)
    return match.group(1) if match else ""


def input_rows(page: str) -> dict[str, bool]:
    """Input name -> whether its row in the Inputs table marks it advanced."""
    rows = re.findall(r"^\| `(\w+)`( \*\(advanced\)\*)? \|", section(page, "Inputs"), flags=re.M)
    return {name: bool(flag) for name, flag in rows}


def test_the_pack_serves_a_web_directory_without_scripts():
    assert animatediff_detailer.WEB_DIRECTORY == "./web" and DOCS.is_dir()
    # ComfyUI lists every .js under WEB_DIRECTORY as a frontend extension and the browser loads it
    assert not list(WEB_DIR.rglob("*.js"))


@pytest.mark.parametrize("node_id", sorted(NODES))
def test_every_registered_id_has_a_page_documenting_every_input_and_output(node_id):
    page_path = DOCS / f"{node_id}.md"
    assert page_path.is_file() and not page_path.is_symlink(), f"{node_id} has no help page (web/docs/{node_id}.md)"
    page = page_path.read_text(encoding="utf-8")
    node_class = NODES[node_id]
    rows = input_rows(page)
    for group in node_class.INPUT_TYPES().values():
        for name, spec in group.items():
            assert name in rows, f"{node_id}: the help page has no row for input {name}"
            advanced = bool(spec[1].get("advanced")) if len(spec) > 1 else False
            assert rows[name] == advanced, f"{node_id}: {name} is {'' if advanced else 'not '}advanced on the node"
    declared = {name for group in node_class.INPUT_TYPES().values() for name in group}
    assert set(rows) <= declared, f"{node_id}: the page documents inputs the node does not have"
    outputs = getattr(node_class, "RETURN_NAMES", None) or node_class.RETURN_TYPES
    for name in outputs:
        outputs_section = section(page, "Outputs") or section(page, "Output")
        assert re.search(rf"^\| `{name}` \|", outputs_section, flags=re.M), f"{node_id}: no row for output {name}"


def test_pictures_the_pages_show_are_served_beside_them():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert not re.match(r"^(/|https?://|\.\.)", target), f"{page.name}: {target} is not beside the pages"
            assert (DOCS / target).is_file(), f"{page.name} shows {target}, which is missing"


def test_the_impact_id_pages_are_up_to_date():
    """They are generated from ours (tools/help_pages.py); a change to ours must be carried over."""
    pages = help_pages.alias_pages()
    assert {path.stem for path in pages} == {entry.impact_id for entry in NODE_ENTRIES if entry.impact_id}
    for path, text in pages.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is out of date: run python tools/help_pages.py"
    detailer = (DOCS / "SEGSDetailerForAnimateDiff.md").read_text(encoding="utf-8")
    assert "`crop_mode` union" in detailer and "AnimateDiffDetailer_SEGSDetailerForAnimateDiff" in detailer


def test_no_page_is_left_over():
    assert {path.stem for path in DOCS.glob("*.md")} == set(NODES)
