"""The benchmark's GPU suite, exercised on the CPU: ``bench_detailer.py --gpu-suite --smoke`` runs the same
code path as on a GPU (model set, fresh process per row, time budget, table) with the tiny models, so a
lent GPU's few minutes are not spent finding out that it breaks. Nothing here is timed: the suite's own
deadline decides which rows run, and the test checks what the table says about every row.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from comfy_harness import REPO_ROOT

ROW = re.compile(r"^\| (Impact 7\.10\.6|ours, own defaults|ours, Impact settings) \| (tiny [^|]+) \| (\d+) \|(.*)$")


def test_the_gpu_suite_runs_on_the_cpu_with_tiny_models(comfy_root, report):
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_detailer.py"), "--gpu-suite", "--smoke"]
    process = subprocess.run(command, capture_output=True, text=True, timeout=900,
                             env={**os.environ, "COMFYUI_PATH": str(comfy_root)})
    assert process.returncode == 0, process.stderr[-3000:]
    rows = [ROW.match(line) for line in process.stdout.splitlines()]
    rows = [row for row in rows if row]
    assert rows, f"no table rows in:\n{process.stdout[-3000:]}"
    measured = [row for row in rows if "skipped" not in row.group(4) and "failed" not in row.group(4)]
    assert measured, "the deadline left no row measured"
    for row in measured:
        cells = [cell.strip() for cell in row.group(4).split("|")]
        assert re.fullmatch(r"\d+\.\d", cells[0]), f"wall time of {row.group(1)} is {cells[0]!r}"
    assert not [row for row in rows if "failed" in row.group(4)], "a row failed"
    assert re.search(r"Finished \d+s after the start \(deadline \d+s\)", process.stdout)
    report["measurements"].append(f"--gpu-suite --smoke: {len(measured)} of {len(rows)} rows measured")
