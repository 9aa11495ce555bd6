"""The rule of each folder (docs/ARCHITECTURE.md), checked on the source: who may import what."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STANDARD_LIBRARY = set(sys.stdlib_module_names)
COMFYUI_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "nodes", "server",
                   "latent_preview", "node_helpers", "execution", "app", "protocol"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, absolute module name or the relative target) of every import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def python_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("core"), ids=lambda p: p.name)
def test_core_imports_only_torch_numpy_the_standard_library_and_core(path):
    for level, module in imports(path):
        if level:
            assert level == 1, f"{path.name} reaches outside core/ with a relative import of level {level}"
            continue
        top = module.split(".")[0]
        assert top in STANDARD_LIBRARY | {"torch", "numpy"}, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", [p for p in python_files("nodes") if p.parent.name != "adapter"], ids=lambda p: p.name)
def test_only_the_adapter_package_imports_comfyui(path):
    for level, module in imports(path):
        assert level or module.split(".")[0] not in COMFYUI_MODULES, f"nodes/{path.name} imports ComfyUI's {module}"


@pytest.mark.parametrize("folder", ["tools", "benchmarks"])
def test_tools_and_benchmarks_never_import_tests(folder):
    test_modules = {p.stem for p in python_files("tests")} - {"__init__"}
    for path in python_files(folder):
        text = path.read_text()
        assert '"tests"' not in text and "'tests'" not in text and "tests/" not in text.split('"""', 2)[-1], (
            f"{folder}/{path.name} refers to tests/")
        for level, module in imports(path):
            assert module.split(".")[0] not in test_modules, f"{folder}/{path.name} imports the test module {module}"


@pytest.mark.parametrize("path", python_files("nodes/adapter"), ids=lambda p: p.name)
def test_the_adapter_reaches_only_core_and_itself_in_the_pack(path):
    """Dependencies point one way: nodes/ -> nodes/adapter/ -> core/ (``..core`` from inside the package)."""
    for level, module in imports(path):
        assert level != 2, f"adapter/{path.name} imports nodes/{module}: the node layer depends on the adapter, not back"
        if level >= 3:
            assert module.split(".")[0] == "core", f"adapter/{path.name} imports {'.' * level}{module}"
