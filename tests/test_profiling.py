import time

import psutil
import pytest

from hyperforget.profiling import (
    NodeTime,
    Stopwatch,
    cpu_seconds,
    peak_memory_gb,
    profile_bars,
    profile_table,
    profile_text,
)


def busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_stopwatch_charges_cpu_to_the_node_that_spent_it():
    watch = Stopwatch()
    watch.start("idle")
    time.sleep(0.2)
    watch.stop("idle", "model_zoo", None)
    watch.start("busy")
    busy(0.3)
    watch.stop("busy", "unlearning", "ft")
    idle, spent = watch.times
    assert idle.wall_s >= 0.2 and idle.cpu_s < 0.1
    assert spent.cpu_s >= 0.25 and spent.method == "ft"
    wall, cpu, peak = watch.run_total()
    assert wall >= idle.wall_s + spent.wall_s and cpu >= spent.cpu_s
    assert peak >= spent.peak_gb >= idle.peak_gb > 0
    watch.stop("never started", "evaluation", None)  # a node timed in another process
    assert len(watch.times) == 2


def test_cpu_seconds_grow_with_work():
    before = cpu_seconds()
    busy(0.2)
    # psutil counts user and system time in clock ticks (0.01 s), each rounded down
    assert cpu_seconds() - before >= 0.17


def test_the_peak_memory_rises_with_what_the_process_holds():
    before = peak_memory_gb()
    resident = psutil.Process().memory_info().rss / 1e9
    held = bytearray(int((before - resident + 0.3) * 1e9))  # 0.3 GB past the earlier peak
    held[::4096] = b"x" * len(held[::4096])  # touched, so resident
    assert peak_memory_gb() - before >= 0.25
    del held


def test_the_table_sums_stages_and_methods_in_pipeline_order():
    times = [
        NodeTime("evaluate", "evaluation", None, 5.0, 9.0, 1.5),
        NodeTime("ft.unlearn_ft", "unlearning", "ft", 1.0, 2.0, 1.2),
        NodeTime("ga.unlearn_ga", "unlearning", "ga", 3.0, 4.0, 1.25),
        NodeTime("dihyfo1.check", "unlearning", "dihyfo1", 0.5, 1.0, 1.0),
        NodeTime("dihyfo1.unlearn", "unlearning", "dihyfo1", 0.5, 1.0, 1.1),
        NodeTime("split_stratified", "data_preparation", None, 0.2, 0.4, 0.5),
    ]
    table = profile_table(times, run_wall_s=12.0, run_cpu_s=20.0, run_peak_gb=1.5)
    assert list(zip(table["stage"], table["method"], strict=True)) == [
        ("data_preparation", ""),
        ("unlearning", ""),
        ("unlearning", "ga"),
        ("unlearning", "dihyfo1"),
        ("unlearning", "ft"),
        ("evaluation", ""),
        ("run", ""),
    ]
    unlearning = table.iloc[1]
    assert unlearning["cpu_s"] == pytest.approx(8.0) and unlearning["share"] == pytest.approx(0.4)
    assert table.iloc[-1]["share"] == 1.0
    assert list(table["peak_gb"]) == [0.5, 1.25, 1.25, 1.1, 1.2, 1.5, 1.5]
    text = profile_text(table)
    assert "  dihyfo1" in text and "40.0%" in text and "1.25" in text


def test_the_bars_show_every_stage_and_method_but_the_run():
    times = [
        NodeTime("ft.unlearn_ft", "unlearning", "ft", 1.0, 2.0),
        NodeTime("evaluate", "evaluation", None, 5.0, 9.0),
    ]
    figure = profile_bars(profile_table(times, run_wall_s=7.0, run_cpu_s=12.0))
    (ax,) = figure.axes
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == ["evaluation", "  ft", "unlearning"]  # bottom up: pipeline order from the top
    assert [bar.get_width() for bar in ax.patches] == [9.0, 2.0, 2.0]
    assert "7 s wall, 12 CPU s" in ax.get_title()
