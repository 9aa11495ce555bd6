"""Every reference to the behaviour contract resolves: the code and the docs cite
``docs/BEHAVIOUR.md §N`` (or a link to one of its headings), and the page has that section."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BEHAVIOUR = REPO_ROOT / "docs" / "BEHAVIOUR.md"
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".json", ".yml", ".yaml"}
SECTION_REF = re.compile(r"BEHAVIOUR\.md\s+§(\d+)")
LINK_REF = re.compile(r"BEHAVIOUR\.md#([a-z0-9-]+)")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO_ROOT / name for name in listed.splitlines() if Path(name).suffix in TEXT_SUFFIXES]


def test_the_behaviour_page_numbers_its_sections():
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", BEHAVIOUR.read_text(), flags=re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 6


def test_every_reference_to_the_behaviour_page_resolves():
    text = BEHAVIOUR.read_text()
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", text, flags=re.M)}
    anchors = {github_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    found = 0
    for path in tracked_text_files():
        if not path.is_file():
            continue
        content = path.read_text(encoding="utf-8", errors="replace")
        for number in SECTION_REF.findall(content):
            found += 1
            assert int(number) in sections, f"{path.relative_to(REPO_ROOT)} cites §{number}, which docs/BEHAVIOUR.md lacks"
        for anchor in LINK_REF.findall(content):
            found += 1
            assert anchor in anchors, f"{path.relative_to(REPO_ROOT)} links #{anchor}, no such heading"
    assert found >= 5


def test_no_reference_to_a_document_outside_the_repository():
    """The contract once lived in a file outside the repository called SPEC; nothing cites it now."""
    for path in tracked_text_files():
        if path.is_file() and path != Path(__file__).resolve():
            content = path.read_text(encoding="utf-8", errors="replace")
            assert not re.search(r"\bSPEC\b", content), f"{path.relative_to(REPO_ROOT)} cites a SPEC"
