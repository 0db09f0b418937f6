"""Where a run's time and memory go: wall and CPU seconds per node, summed per stage and per
method, and the process's peak memory by the end of each.

CPU seconds are user + system of this process and of its child processes (live ones, e.g. Dask
workers, and those already reaped), so a stage that fans out to workers is charged for them.
Peak memory is this (the Kedro) process's high-water mark of resident memory, as
``/usr/bin/time`` reports it: the first stage whose value is the run's is the one that set it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import pandas as pd
import psutil
from matplotlib.figure import Figure

STAGE_ORDER = (
    "data_preparation",
    "model_zoo",
    "semi_parametric",
    "hypernetwork",
    "unlearning",
    "evaluation",
)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of every child process, live or reaped."""
    me = psutil.Process(os.getpid())
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in me.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.Error:  # it ended in between: counted by children_* once reaped
            continue
        total += child_times.user + child_times.system
    return total


def peak_memory_gb() -> float:
    """This process's high-water mark of resident memory, in GB (10^9 bytes)."""
    try:
        import resource
    except ImportError:  # Windows: the peak working set
        return psutil.Process().memory_info().peak_wset / 1e9
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9  # bytes / KiB


@dataclass(frozen=True)
class NodeTime:
    node: str
    stage: str
    method: str | None
    wall_s: float
    cpu_s: float
    peak_gb: float = 0.0  # the process's peak memory when the node ended


class Stopwatch:
    """Times nodes between :meth:`start` and :meth:`stop` (one at a time, as Kedro's sequential
    runner runs them)."""

    def __init__(self) -> None:
        self.times: list[NodeTime] = []
        self._started: dict[str, tuple[float, float]] = {}
        self._run_started = (time.perf_counter(), cpu_seconds())

    def start(self, node: str) -> None:
        self._started[node] = (time.perf_counter(), cpu_seconds())

    def stop(self, node: str, stage: str, method: str | None) -> None:
        if node not in self._started:  # started in another process (a parallel runner)
            return
        wall, cpu = self._started.pop(node)
        self.times.append(
            NodeTime(
                node,
                stage,
                method,
                time.perf_counter() - wall,
                cpu_seconds() - cpu,
                peak_memory_gb(),
            )
        )

    def run_total(self) -> tuple[float, float, float]:
        """Wall and CPU seconds since the stopwatch was made (the whole run, checks included),
        and the process's peak memory (GB)."""
        wall, cpu = self._run_started
        return time.perf_counter() - wall, cpu_seconds() - cpu, peak_memory_gb()


COLUMNS = ["stage", "method", "wall_s", "cpu_s", "peak_gb"]


def profile_table(
    times: list[NodeTime], run_wall_s: float, run_cpu_s: float, run_peak_gb: float = 0.0
) -> pd.DataFrame:
    """One row per stage, then one per method within the stage that runs it, then the run.

    ``share`` is each row's fraction of the run's CPU seconds; the run's row also counts what
    no node did (the checks, loading and saving datasets, which Kedro does outside the node,
    writing the manifest). ``peak_gb`` is the process's peak memory by the end of the row's
    last node (the run's: at its end).
    """
    nodes = pd.DataFrame([vars(t) for t in times], columns=["node", *COLUMNS])
    summed = {"wall_s": "sum", "cpu_s": "sum", "peak_gb": "max"}
    order = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    stages = nodes.groupby("stage", sort=False).agg(summed).reset_index()
    stages["rank"] = stages["stage"].map(lambda s: order.get(s, len(order)))
    rows = []
    for stage in stages.sort_values("rank").itertuples():
        rows.append({**stage._asdict(), "method": ""})
        mine = nodes[(nodes["stage"] == stage.stage) & nodes["method"].notna()]
        per_method = mine.groupby("method").agg(summed)
        per_method = per_method.sort_values("cpu_s", ascending=False, kind="stable")
        for method, row in per_method.iterrows():
            rows.append({**row.to_dict(), "stage": stage.stage, "method": method})
    rows.append(
        {
            "stage": "run",
            "method": "",
            "wall_s": run_wall_s,
            "cpu_s": run_cpu_s,
            "peak_gb": max(run_peak_gb, nodes["peak_gb"].max() if len(nodes) else 0.0),
        }
    )
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["share"] = table["cpu_s"] / run_cpu_s if run_cpu_s > 0 else 0.0
    return table.round({"wall_s": 1, "cpu_s": 1, "peak_gb": 2, "share": 3})


def profile_text(table: pd.DataFrame) -> str:
    """The table as aligned text, methods indented under their stage."""
    lines = [f"{'stage / method':<34}{'wall s':>9}{'CPU s':>9}{'share':>8}{'peak GB':>9}"]
    for row in table.itertuples():
        name = f"  {row.method}" if row.method else row.stage
        lines.append(
            f"{name:<34}{row.wall_s:>9.1f}{row.cpu_s:>9.1f}{row.share:>8.1%}{row.peak_gb:>9.2f}"
        )
    return "\n".join(lines)


def profile_bars(table: pd.DataFrame) -> Figure:
    """Horizontal bars of CPU seconds: each stage (bold), and each method under its stage
    (lighter), with the wall seconds beside them."""
    rows = table[table["stage"] != "run"].iloc[::-1]
    labels = [f"  {r.method}" if r.method else r.stage for r in rows.itertuples()]
    fig = Figure(figsize=(7.0, 0.3 * len(rows) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    colours = ["#9ecae1" if method else "#3182bd" for method in rows["method"]]
    bars = ax.barh(range(len(rows)), rows["cpu_s"], color=colours)
    ax.bar_label(bars, [f"{w:.0f} s wall" for w in rows["wall_s"]], padding=3, fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    for tick, method in zip(ax.get_yticklabels(), rows["method"], strict=True):
        tick.set_fontweight("normal" if method else "bold")  # stages bold, their methods under
    run = table[table["stage"] == "run"].iloc[0]
    ax.set_xlabel("CPU seconds")
    ax.set_title(
        f"Run: {run.wall_s:.0f} s wall, {run.cpu_s:.0f} CPU s, peak memory {run.peak_gb:.2f} GB",
        fontsize=9,
    )
    ax.margins(x=0.2)
    return fig
