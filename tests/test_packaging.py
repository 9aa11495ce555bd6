"""What the Comfy Registry gets: pyproject.toml's metadata, and the archive ``comfy node publish`` builds
(``git ls-files`` minus the gitignore-style patterns of ``.comfyignore``): the pack, its docs, examples and
help pages, the user tools and what they import; never tests, benchmarks, CI or the maintainer tools."""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/animatediff-detailer/comfyui-animatediff-detailer"
USER_TOOLS = ("tools/run_example.py", "tools/validate_workflow.py")  # the README's user commands
LEFT_OUT = ("tests/", "benchmarks/", ".ci/", ".github/")


def pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def tracked_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the archive is built from git ls-files")
    return [name for name in listed.splitlines() if (REPO_ROOT / name).exists()]


def ignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".comfyignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def ignored(path: str, pattern: str) -> bool:
    """gitignore matching for the forms .comfyignore uses: ``/dir/``, ``/file`` and ``*.ext``."""
    anchored, directory = pattern.startswith("/"), pattern.endswith("/")
    body = pattern.strip("/")
    if directory:
        prefix = body + "/"
        return path.startswith(prefix) if anchored else any(part == body for part in path.split("/")[:-1])
    if anchored or "/" in body:
        return fnmatch.fnmatchcase(path, body)
    return any(fnmatch.fnmatchcase(part, body) for part in path.split("/"))


def archive() -> list[str]:
    """The files ``comfy node pack`` / ``publish`` ship (the exact matcher comfy-cli uses when installed)."""
    files, patterns = tracked_files(), ignore_patterns()
    try:
        import pathspec
    except ImportError:
        return [path for path in files if not any(ignored(path, pattern) for pattern in patterns)]
    spec = pathspec.PathSpec.from_lines("gitwildmatch", patterns)
    return [path for path in files if not spec.match_file(path)]


def test_every_pattern_is_one_the_check_understands_and_still_matches_something():
    files = tracked_files()
    for pattern in ignore_patterns():
        assert not pattern.startswith("!") and "**" not in pattern, f"{pattern}: keep .comfyignore to simple patterns"
        assert any(ignored(path, pattern) for path in files) or pattern == "/.comfyignore", (
            f".comfyignore line {pattern!r} matches no tracked file")


def test_the_archive_leaves_out_tests_benchmarks_ci_and_the_maintainer_tools():
    shipped = archive()
    for path in shipped:
        assert not path.startswith(LEFT_OUT), f"{path} would be published"
    tools = {path for path in shipped if path.startswith("tools/")}
    assert tools == set(user_tool_closure()), f"tools shipped: {sorted(tools)}"


def test_the_archive_holds_the_pack_and_what_users_read():
    shipped = set(archive())
    for path in ("__init__.py", "pyproject.toml", "requirements.txt", "README.md", "LICENSE", "docs/BEHAVIOUR.md",
                 "docs/icon.png", *USER_TOOLS):
        assert path in shipped, f"{path} is missing from the archive"
    for folder in ("core/", "nodes/", "nodes/adapter/", "web/docs/", "example_workflows/"):
        tracked = {p for p in tracked_files() if p.startswith(folder) and "/" not in p[len(folder):]}
        assert tracked and tracked <= shipped, f"{folder} is not shipped whole: {sorted(tracked - shipped)}"


def user_tool_closure() -> list[str]:
    """The user tools and every tool module they import, directly or not."""
    tool_names = {path.stem for path in (REPO_ROOT / "tools").glob("*.py")}
    seen, todo = set(), [Path(tool).stem for tool in USER_TOOLS]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse((REPO_ROOT / "tools" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            todo += [module.split(".")[0] for module in modules if module.split(".")[0] in tool_names]
    return sorted(f"tools/{name}.py" for name in seen)


def test_the_registry_metadata_is_complete():
    config = pyproject()
    project, comfy = config["project"], config["tool"]["comfy"]
    urls = project["urls"]
    assert urls["Repository"] == REPOSITORY
    assert urls["Documentation"].startswith(REPOSITORY) and urls["Issues"] == REPOSITORY + "/issues"
    assert any(c.startswith("Operating System ::") for c in project["classifiers"])
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert comfy["requires-comfyui"].startswith(">=")
    # the icon is a URL of a file of this repository's main branch: a small square picture
    raw = REPOSITORY.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"
    assert comfy["Icon"].startswith(raw)
    from PIL import Image

    with Image.open(REPO_ROOT / comfy["Icon"][len(raw):]) as icon:
        assert icon.format == "PNG" and icon.width == icon.height <= 400


def test_the_publish_workflow_publishes_with_the_registry_token():
    workflow = (REPO_ROOT / ".github" / "workflows" / "publish.yml").read_text()
    assert "Comfy-Org/publish-node-action@" in workflow and "secrets.REGISTRY_ACCESS_TOKEN" in workflow
    assert '"pyproject.toml"' in workflow and "needs: tests" in workflow


@pytest.mark.skipif(sys.version_info < (3, 10), reason="the pack needs Python 3.10")
def test_the_fallback_matcher_agrees_with_gitignore_rules():
    assert ignored("tests/test_x.py", "/tests/") and not ignored("nodes/tests.py", "/tests/")
    assert ignored("tools/tiny_yolo.py", "/tools/tiny_yolo.py") and not ignored("x/tools/tiny_yolo.py", "/tools/tiny_yolo.py")
    assert ignored("a/b/c.pyc", "*.pyc") and not ignored("a/b/c.py", "*.pyc")
