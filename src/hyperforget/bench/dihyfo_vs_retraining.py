"""``bench dihyfo``: DiHyFo against retraining on a finished run (relative forgetting quality,
seconds per request, break-even), and the leave-one-class-out check on that run's data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hyperforget.bench.common import newest
from hyperforget.hypernet.model import VARIANTS

if TYPE_CHECKING:
    import pandas as pd


def _scenario_kind(name: str) -> str:
    return "random" if name.startswith("random") else "several" if "+" in name else "one"


def dihyfo_summary(results: pd.DataFrame, train_seconds: dict[str, float]) -> pd.DataFrame:
    """Per DiHyFo variant and scenario kind: relative F (mean, CI), band, forgot, seconds per
    request, retraining's seconds, speed-up and break-even request count."""
    import math

    import pandas as pd

    from hyperforget.evaluation.intervals import mean_ci

    if "not_applicable" in results:  # rows a variant cannot answer (sample-wise): no scores
        results = results[results["not_applicable"].isna()]
    results = results.assign(kind=results["forget_classes"].astype(str).map(_scenario_kind))
    rows = []
    for (method, kind), group in results[results["method"].isin(VARIANTS)].groupby(
        ["method", "kind"]
    ):
        oracle = results[(results["method"] == "oracle") & (results["kind"] == kind)]
        relative = mean_ci(group["relative_forgetting_quality"].to_numpy())
        seconds, retrain = float(group["seconds"].mean()), float(oracle["seconds"].mean())
        saved = retrain - seconds
        trained = train_seconds.get(method, math.nan)
        if saved <= 0:
            break_even: int | str = "never"
        elif math.isnan(trained):
            break_even = "unknown"  # weights written before they recorded their seconds
        else:
            break_even = math.ceil(trained / saved)
        rows.append(
            {
                "variant": method,
                "scenarios": f"{kind} class" if kind == "one" else f"{kind} classes",
                "relative_F": f"{relative.mean:.3f} [{relative.low:.3f}, {relative.high:.3f}]",
                "retain_in_band": f"{int(group['acc_retain_test_in_retrained_95'].sum())}"
                f"/{len(group)}",
                "forgot": f"{int(group['forgot'].sum())}/{len(group)}",
                "s_per_request": round(seconds, 4),
                "s_retrain_one": round(retrain, 4),
                "speedup": round(retrain / seconds, 2) if seconds > 0 else math.nan,
                "train_s": round(trained, 1),
                "break_even_requests": break_even,
            }
        )
    return pd.DataFrame(rows)


def run_leave_out(project: Path, env: str, variant: str, classes: list[int]) -> pd.DataFrame:
    """The leave-one-class-out check on the newest run of ``env`` in ``project``: the
    pipeline's ``evaluate_leave_out`` node on that run's data, for ``variant`` and ``classes``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from hyperforget.pipelines.evaluation.pipeline import leave_out_node

    node = leave_out_node()
    bootstrap_project(project.resolve())
    with KedroSession.create(project.resolve(), env=None if env == "base" else env) as session:
        catalog = session.load_context().catalog
        inputs = [catalog.load(name) for name in node.inputs]
    evaluation = node.inputs.index("params:evaluation")
    inputs[evaluation] = {
        **inputs[evaluation],
        "leave_out_classes": classes,
        "leave_out_variant": variant,
    }
    table, _ = node.func(*inputs)
    return table


def bench_dihyfo(project: Path, env: str, variant: str, leave_out: list[int]) -> None:
    """The DiHyFo summary of the run in ``project``, and the leave-out check of each class in
    ``leave_out``."""
    import pandas as pd
    from safetensors import safe_open

    path = project / "data/08_reporting/results.csv"
    if not path.exists():
        raise SystemExit(
            f"No results table at {path}: run `uv run kedro run --pipeline unlearn` first."
        )
    train_seconds = {}
    for name in VARIANTS:
        versions = project / f"data/06_models/{name}_ema_weights.safetensors"
        if versions.is_dir() and any(versions.iterdir()):
            with safe_open(str(newest(versions)), "pt") as handle:
                if "seconds" in handle.keys():
                    train_seconds[name] = float(handle.get_tensor("seconds")[0])
    summary = dihyfo_summary(pd.read_csv(path), train_seconds)
    if summary.empty:
        raise SystemExit(f"{path} has no dihyfo1 or dihyfo2 rows: was unlearning.run limited?")
    print(f"DiHyFo on the run in {path} (train_s: the hypernetwork's training, newest weights)")
    print(summary.to_string(index=False))
    if leave_out:
        try:
            table = run_leave_out(project, env, variant, leave_out)
        except ValueError as error:
            raise SystemExit(str(error)) from None
        print(f"\n{variant} trained without each class's zoo runs, asked to forget it:")
        print(table.round(3).to_string(index=False))
