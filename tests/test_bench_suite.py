"""The GPU suite's arithmetic (tools/bench_suite.py) without ComfyUI or a GPU: medians of repeated
runs, ratios against Impact's row of the same model and frame count, skipped rows, missing
values, and the time budget that decides which rows run."""

from __future__ import annotations

import pytest

import bench_suite  # tools/, on sys.path through tests/conftest.py
from bench_suite import MB, Budget, RowResult, RunFailed, RunTimedOut, SuiteRow

IMPACT = SuiteRow("Impact 7.10.6", "impact", "sd15", 16)
OURS = SuiteRow("ours, own defaults", "ours", "sd15", 16, {"crop_mode": "tracked"})
OURS_48 = SuiteRow("ours, own defaults", "ours", "sd15", 48)
IMPACT_48 = SuiteRow("Impact 7.10.6", "impact", "sd15", 48)
WAN = SuiteRow("ours, own defaults", "ours", "wan", 33)
RATIOS = ("wall vs Impact", "UNet vs Impact", "VRAM vs Impact", "growth vs Impact")


def run(wall, unet=1.0, encode=0.5, decode=0.3, vram=None, growth=100 * MB, seconds=None, error=None, shapes=None):
    return {"wall": wall, "unet": unet, "encode": encode, "decode": decode, "vram": vram, "growth": growth,
            "before": 1000 * MB, "seconds": wall + 10 if seconds is None else seconds, "error": error,
            "sampled_shapes": shapes if shapes is not None else [[16, 4, 50, 64]]}


def table_rows(results, names=None) -> dict[tuple[str, str, str], dict[str, str]]:
    """The table's data lines by (node, model, frames), each a dict column -> cell."""
    lines = bench_suite.suite_table(results, names).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == list(bench_suite.COLUMNS) and set(lines[1]) == {"|", "-"}
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip()[1:-1].split(" | "))))
        assert len(cells) == len(header), line
        rows[cells["node"], cells["model"], cells["frames"]] = cells
    return rows


def test_ratios_are_against_impacts_row_of_the_same_model_and_frame_count():
    results = [RowResult(IMPACT, runs=[run(40.0, unet=20.0, vram=8000 * MB, growth=400 * MB)]),
               RowResult(OURS, runs=[run(20.0, unet=15.0, vram=6000 * MB, growth=100 * MB)]),
               RowResult(IMPACT_48, runs=[run(100.0, unet=50.0, vram=9000 * MB, growth=800 * MB)]),
               RowResult(OURS_48, runs=[run(25.0, unet=40.0, vram=4500 * MB, growth=200 * MB)]),
               RowResult(WAN, runs=[run(30.0)])]
    rows = table_rows(results, {"sd15": "SD1.5"})
    ours = rows["ours, own defaults", "SD1.5", "16"]
    assert [ours[key] for key in RATIOS] == ["0.50x", "0.75x", "0.75x", "0.25x"]
    ours_48 = rows["ours, own defaults", "SD1.5", "48"]  # against the 48-frame Impact row, not the 16-frame one
    assert [ours_48[key] for key in RATIOS] == ["0.25x", "0.80x", "0.50x", "0.25x"]
    impact = rows["Impact 7.10.6", "SD1.5", "16"]
    assert [impact[key] for key in RATIOS] == [""] * 4
    times = [impact[key] for key in ("wall s", "UNet s", "VAE encode s", "VAE decode s")]
    assert times == ["40.0", "20.0", "0.5", "0.3"]
    assert (impact["peak VRAM MB"], impact["RSS growth MB"], impact["sampling calls"]) == ("8000", "400", "1 x 16")
    wan = rows["ours, own defaults", "wan", "33"]  # no Impact row on Wan (and no name given for the model)
    assert [wan[key] for key in RATIOS] == ["n/a"] * 4


def test_medians_of_repeated_runs():
    runs = [run(30.0, unet=9.0, vram=300 * MB, growth=50 * MB), run(10.0, unet=3.0, vram=100 * MB, growth=70 * MB),
            run(20.0, unet=6.0, vram=200 * MB, growth=60 * MB, error="OutOfMemoryError: ...")]
    merged = bench_suite.median_run(runs)
    assert (merged["wall"], merged["unet"], merged["vram"], merged["growth"]) == (20.0, 6.0, 200 * MB, 60 * MB)
    assert merged["seconds"] == 30.0 and merged["error"] == "OutOfMemoryError: ..."
    assert bench_suite.median_run([run(1.0), run(3.0)])["wall"] == 2.0
    assert bench_suite.median_run([run(1.0, vram=5 * MB), run(3.0, vram=None)])["vram"] is None  # missing in one run
    rows = table_rows([RowResult(IMPACT, repeats=3, runs=[run(40.0)] * 3),
                       RowResult(OURS, repeats=3, runs=[run(30.0), run(10.0), run(20.0)])])
    assert rows["ours, own defaults", "sd15", "16"]["wall s"] == "20.0"
    assert rows["ours, own defaults", "sd15", "16"]["wall vs Impact"] == "0.50x"
    assert rows["ours, own defaults", "sd15", "16"]["note"] == "median of 3 runs"


def test_missing_values_show_as_na_and_a_cut_short_row_says_so():
    results = [RowResult(IMPACT, runs=[run(40.0, vram=None)]),
               RowResult(OURS, repeats=3, runs=[run(20.0, vram=None), run(22.0, vram=None)])]
    rows = table_rows(results)
    ours = rows["ours, own defaults", "sd15", "16"]
    assert ours["peak VRAM MB"] == "n/a" and ours["VRAM vs Impact"] == "n/a"  # the CPU has no VRAM peak
    assert ours["wall vs Impact"] == "0.53x" and ours["note"] == "2 of 3 runs (time)"
    assert rows["Impact 7.10.6", "sd15", "16"]["peak VRAM MB"] == "n/a"
    assert bench_suite.ratio(1.0, 0.0) == bench_suite.ratio(None, 1.0) == bench_suite.ratio(1.0, None) == "n/a"
    assert bench_suite.seconds_cell(None) == bench_suite.megabytes_cell(None) == "n/a"
    assert bench_suite.sampling_calls([]) == "none"
    assert bench_suite.sampling_calls([[1, 16, 9, 32, 32]]) == "1 x 9"  # a video latent: its time axis
    assert bench_suite.sampling_calls([[3, 4, 8, 8], [3, 4, 8, 8], [2, 4, 8, 8]]) == "3 + 3 + 2"


def test_an_impact_row_that_failed_or_did_not_run_gives_no_ratios():
    failed = [RowResult(IMPACT, runs=[run(5.0, error="OutOfMemoryError: CUDA | out of memory")]),
              RowResult(OURS, runs=[run(20.0)])]
    rows = table_rows(failed)
    assert rows["ours, own defaults", "sd15", "16"]["wall vs Impact"] == "n/a"
    # a "|" in the message is escaped: the table keeps its columns
    assert rows["Impact 7.10.6", "sd15", "16"]["note"] == "OutOfMemoryError: CUDA \\| out of memory"
    skipped = [RowResult(IMPACT, skipped="time"), RowResult(OURS, runs=[run(20.0)])]
    assert table_rows(skipped)["ours, own defaults", "sd15", "16"]["wall vs Impact"] == "n/a"


def test_skipped_and_failed_rows_keep_their_place_with_a_reason():
    results = [RowResult(IMPACT, runs=[run(40.0)]), RowResult(OURS, skipped="time"),
               RowResult(IMPACT_48, skipped="no Impact Pack"), RowResult(OURS_48, failure="CUDA error: device lost")]
    lines = bench_suite.suite_table(results).splitlines()[2:]
    assert [line.split(" | ")[0].lstrip("| ") for line in lines] == [r.row.label for r in results]
    rows = table_rows(results)
    skipped = rows["ours, own defaults", "sd15", "16"]
    assert skipped["note"] == "skipped: time"
    assert all(skipped[column] == "-" for column in bench_suite.COLUMNS[3:-1])
    assert rows["Impact 7.10.6", "sd15", "48"]["note"] == "skipped: no Impact Pack"
    assert rows["ours, own defaults", "sd15", "48"]["note"] == "failed: CUDA error: device lost"


def test_estimates_scale_the_wall_time_and_keep_the_fixed_part():
    priors = {"sd15": 60.0, "wan": 120.0}
    assert bench_suite.estimate_seconds(OURS, [], priors) == 60.0
    done = [(IMPACT, run(40.0, seconds=55.0)), (OURS, run(10.0, seconds=22.0))]
    # the same label at 16 frames: 12 s of boot and loading, plus 3 x its 10 s wall
    assert bench_suite.estimate_seconds(OURS_48, done, priors) == pytest.approx(42.0)
    assert bench_suite.estimate_seconds(IMPACT_48, done, priors) == pytest.approx(135.0)
    other_label = SuiteRow("ours, Impact settings", "ours", "sd15", 48)  # the same node's runs stand in
    assert bench_suite.estimate_seconds(other_label, done, priors) == pytest.approx(42.0)
    assert bench_suite.estimate_seconds(WAN, done, priors) == 120.0  # another model: its prior


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rows_that_would_end_after_the_deadline_are_skipped_and_cheaper_ones_still_run():
    clock = FakeClock()
    budget = Budget(110.0, clock=clock)
    wall = {IMPACT: 20.0, OURS: 10.0, IMPACT_48: 60.0, OURS_48: 30.0, WAN: 5.0}
    ran = []

    def run_once(row, budget):
        clock.now += wall[row] + 10.0  # 10 s of boot and loading
        ran.append(row)
        return run(wall[row], seconds=wall[row] + 10.0)

    rows = [IMPACT, OURS, IMPACT_48, OURS_48, WAN]
    results = bench_suite.run_rows(rows, run_once, budget, {"sd15": 30.0, "wan": 10.0})
    # after 50 s: Impact at 48 frames needs about 70 s, ours at 48 about 40 s, Wan its prior of 10 s
    assert ran == [IMPACT, OURS, OURS_48, WAN]
    assert [r.skipped for r in results] == ["", "", "time", "", ""]
    assert "skipped: time" in bench_suite.suite_table(results)


def test_a_run_stopped_at_the_deadline_and_an_unavailable_row():
    clock = FakeClock()
    budget = Budget(60.0, clock=clock)
    motion = SuiteRow("ours, own defaults", "ours", "motion", 16)

    def run_once(row, budget):
        if row == OURS:
            clock.now = budget.deadline
            raise RunTimedOut()
        if row == IMPACT_48:
            raise RunFailed("Segmentation fault")
        clock.now += 10.0
        return run(5.0, seconds=10.0)

    def unavailable(row):
        return "no AnimateDiff-Evolved" if row.model == "motion" else ""

    results = bench_suite.run_rows([IMPACT, OURS, IMPACT_48, motion], run_once, budget, {"sd15": 10.0, "motion": 1.0},
                                   repeats=2, unavailable=unavailable)
    impact, ours, impact_48, motion_result = results
    assert len(impact.runs) == 2 and impact.skipped == ""
    assert ours.runs == [] and ours.skipped == "time"
    assert impact_48.skipped == "time" and impact_48.failure == ""  # no time left to try it
    assert motion_result.skipped == "no AnimateDiff-Evolved"
    assert budget.run_timeout() == -bench_suite.RESERVE_S


def test_budget_keeps_a_margin():
    clock = FakeClock()
    budget = Budget(100.0, clock=clock, started=-20.0)  # the program started 20 s before the budget was made
    assert budget.left() == 80.0
    assert budget.fits(65.0)  # 65 s and its margin end before the deadline, with the reserve left
    assert not budget.fits(70.0)
