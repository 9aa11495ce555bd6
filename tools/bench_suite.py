"""The arithmetic of the benchmark's GPU suite (``bench_detailer.py --gpu-suite``), without
ComfyUI or torch: its rows, the time budget that skips the rows which no longer fit before the
deadline, the medians of repeated runs, the ratios against Impact's row of the same model and
frame count, and the table.

The benchmark supplies the runs (each a fresh ComfyUI process) through :func:`run_rows`; a run
is a dict of numbers (seconds, bytes) as ``bench_detailer.run_point`` returns it, plus
``seconds``, the whole process's time. A number the device cannot give (peak VRAM on the CPU) is
``None`` and shows as "n/a". Standard library only.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MB = 2**20
# The numbers of a run that repeated runs report as medians.
NUMBERS = ("wall", "unet", "encode", "decode", "vram", "growth", "before", "seconds")
# Estimates are stretched by this much before they are held against the time left, and this many
# seconds stay free at the end for the table.
ESTIMATE_MARGIN = 1.15
RESERVE_S = 5.0

COLUMNS = ("node", "model", "frames", "wall s", "UNet s", "VAE encode s", "VAE decode s", "peak VRAM MB",
           "RSS growth MB", "sampling calls", "wall vs Impact", "UNet vs Impact", "VRAM vs Impact",
           "growth vs Impact", "note")
RATIO_KEYS = ("wall", "unet", "vram", "growth")


@dataclass(frozen=True)
class SuiteRow:
    """One row of the suite: a node (``"impact"`` or ``"ours"``, ``extra`` its optional inputs)
    on a model family (``"sd15"``, ``"wan"``, ``"motion"``) and a frame count."""

    label: str
    node: str
    model: str
    frames: int
    extra: dict = field(default_factory=dict, hash=False)


@dataclass
class RowResult:
    """A row's runs (``repeats`` were planned), or why it has none: ``skipped`` (the table says
    "skipped: <reason>") or ``failure`` (a process that died without numbers)."""

    row: SuiteRow
    repeats: int = 1
    runs: list[dict] = field(default_factory=list)
    skipped: str = ""
    failure: str = ""

    @property
    def numbers(self) -> dict | None:
        return median_run(self.runs) if self.runs else None


class RunTimedOut(Exception):
    """A run stopped at the deadline."""


class RunFailed(Exception):
    """A run's process died without reporting numbers."""


def median_run(runs: list[dict]) -> dict:
    """One run standing for several: the median of each of :data:`NUMBERS` (``None`` where any
    run has none), the first error any run reported, the rest (sampling calls) from the first."""
    merged = dict(runs[0])
    for key in NUMBERS:
        values = [run.get(key) for run in runs]
        merged[key] = None if any(value is None for value in values) else statistics.median(values)
    merged["error"] = next((run["error"] for run in runs if run.get("error")), None)
    return merged


def ratio(value: float | None, reference: float | None) -> str:
    """``value / reference`` as "0.52x"; "n/a" when either is missing or the reference is not positive."""
    if value is None or reference is None or reference <= 0:
        return "n/a"
    return f"{value / reference:.2f}x"


def seconds_cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def megabytes_cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MB:.0f}"


def sampling_calls(shapes: list[list[int]]) -> str:
    """The frames of each sampling call ("3 + 3 + 2", or "2 x 16" when all alike): latent frames,
    the time axis of a video latent ``[B, C, T, h, w]``, else its batch."""
    frames = [shape[2] if len(shape) == 5 else shape[0] for shape in shapes]
    if not frames:
        return "none"
    return f"{len(frames)} x {max(frames)}" if len(set(frames)) == 1 else " + ".join(map(str, frames))


def impact_reference(row: SuiteRow, results: list[RowResult]) -> dict | None:
    """The numbers of Impact's row of the same model and frame count, if it ran without an error."""
    for result in results:
        other = result.row
        if other.node == "impact" and other.model == row.model and other.frames == row.frames and result.runs:
            numbers = result.numbers
            return None if numbers["error"] else numbers
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def suite_table(results: list[RowResult], model_names: dict[str, str] | None = None) -> str:
    """The suite's table (markdown), one line per row in the order given; ratios against Impact's
    row of the same model and frame count ("n/a" without one), blank on Impact's own rows."""
    model_names = model_names or {}
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for result in results:
        row = result.row
        cells = [row.label, model_names.get(row.model, row.model), str(row.frames)]
        numbers = result.numbers
        if numbers is None:
            note = f"skipped: {result.skipped}" if result.skipped else f"failed: {result.failure or 'no run'}"
            cells += ["-"] * (len(COLUMNS) - 4) + [note]
        else:
            cells += [seconds_cell(numbers[key]) for key in ("wall", "unet", "encode", "decode")]
            cells += [megabytes_cell(numbers["vram"]), megabytes_cell(numbers["growth"]),
                      sampling_calls(numbers.get("sampled_shapes") or [])]
            if row.node == "impact":
                cells += [""] * len(RATIO_KEYS)
            else:
                reference = impact_reference(row, results)
                cells += [ratio(numbers[key], reference[key] if reference else None) for key in RATIO_KEYS]
            notes = [numbers["error"]] if numbers["error"] else []
            if result.failure:
                notes.append(f"a later run failed: {result.failure}")
            if len(result.runs) < result.repeats:
                notes.append(f"{len(result.runs)} of {result.repeats} runs (time)")
            elif len(result.runs) > 1:
                notes.append(f"median of {len(result.runs)} runs")
            cells.append("; ".join(notes))
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


# --- the time budget ------------------------------------------------------------------------------


class Budget:
    """The time left before a deadline ``seconds`` after ``started`` (default: now) on ``clock``."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, started: float | None = None):
        self.clock = clock
        self.deadline = (clock() if started is None else started) + seconds

    def left(self) -> float:
        return self.deadline - self.clock()

    def fits(self, estimate: float) -> bool:
        """Whether a run expected to take ``estimate`` seconds ends before the deadline, with margin."""
        return estimate * ESTIMATE_MARGIN + RESERVE_S <= self.left()

    def run_timeout(self) -> float:
        """The longest a run may still take (its process is stopped then)."""
        return self.left() - RESERVE_S


def estimate_seconds(row: SuiteRow, done: list[tuple[SuiteRow, dict]], priors: dict[str, float]) -> float:
    """Seconds one run of ``row`` should take, from the runs ``done`` on the same model (the same
    label's if any, else the same node's, else any): each one's fixed part (its process time minus
    its wall time: boot and model loading) plus its wall time scaled to ``row``'s frames; the
    largest of them. Before any run on the model, ``priors[row.model]``."""
    same = [(other, run) for other, run in done if other.model == row.model]
    alike = ([(o, r) for o, r in same if o.label == row.label] or [(o, r) for o, r in same if o.node == row.node]
             or same)
    if not alike:
        return priors[row.model]
    return max(run["seconds"] - run["wall"] + run["wall"] * row.frames / other.frames for other, run in alike)


def run_rows(rows: list[SuiteRow], run_once: Callable[[SuiteRow, Budget], dict], budget: Budget,
             priors: dict[str, float], repeats: int = 1,
             unavailable: Callable[[SuiteRow], str] = lambda row: "") -> list[RowResult]:
    """Run ``rows`` in order (the most important first), ``repeats`` times each, while they fit:
    a run starts only when its estimate (:func:`estimate_seconds`) ends before the deadline, so a
    row that does not fit is skipped ("time") and a later, cheaper one may still run.
    ``run_once(row, budget)`` returns a run (with ``seconds``, its process's time) or raises
    :class:`RunTimedOut` or :class:`RunFailed`; ``unavailable(row)`` names why a row cannot run
    here at all ("" when it can)."""
    done: list[tuple[SuiteRow, dict]] = []
    results = []
    for row in rows:
        result = RowResult(row, repeats)
        results.append(result)
        result.skipped = unavailable(row)
        if result.skipped:
            log.info("%s, %s, %d frames: skipped (%s)", row.label, row.model, row.frames, result.skipped)
            continue
        for _ in range(repeats):
            estimate = estimate_seconds(row, done, priors)
            if not budget.fits(estimate):
                log.info("%s, %s, %d frames: about %.0fs, %.0fs left: skipped", row.label, row.model, row.frames,
                         estimate, budget.left())
                break
            try:
                run = run_once(row, budget)
            except RunTimedOut:
                log.info("%s, %s, %d frames: stopped at the deadline", row.label, row.model, row.frames)
                break
            except RunFailed as failure:
                result.failure = str(failure)
                break
            done.append((row, run))
            result.runs.append(run)
        if not result.runs and not result.failure:
            result.skipped = "time"
    return results
