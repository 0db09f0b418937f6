"""The last MLflow runs of the project side by side, method by method: what the results notebook
shows. Plain MLflow and pandas, no Kedro: any session that knows the tracking URI can call it."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

# the per-method means over scenarios the evaluation logs at the top level (``<method>.<measure>``)
# that the comparison shows
MEASURES = ("final_score", "relative_f", "retain_test")


def project_tracking_uri(uri: str, project_path: str | Path) -> str:
    """``uri`` with a relative SQLite path anchored at the project, not at the working folder:
    a notebook's kernel starts in ``notebooks/``, where ``sqlite:///mlflow.db`` would open (and
    create) another, empty database."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or Path(uri.removeprefix(prefix)).is_absolute():
        return uri
    return prefix + str(Path(project_path).resolve() / uri.removeprefix(prefix))


def compare_last_runs(
    tracking_uri: str, experiment: str = "hyperforget", runs: int = 2
) -> pd.DataFrame:
    """One row per method, and per run (newest first, labelled by its name and git commit) its
    mean final score, relative forgetting quality and retain-test accuracy over the scenarios.
    Raises if the experiment has fewer than ``runs`` runs with evaluation results."""
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(
            f"No MLflow experiment {experiment!r} in {tracking_uri}: run "
            "`uv run kedro run --pipeline unlearn` first (twice, to compare two runs)."
        )
    scored = [
        run
        for run in client.search_runs(
            [found.experiment_id], order_by=["attributes.start_time DESC"], max_results=50
        )
        if any(_method_of(key, "final_score") for key in run.data.metrics)
    ][:runs]
    if len(scored) < runs:
        raise ValueError(
            f"{len(scored)} run(s) of {experiment!r} in {tracking_uri} have evaluation results; "
            f"comparing needs {runs}: run `uv run kedro run --pipeline unlearn` again."
        )
    columns = {}
    for run in scored:
        tags = run.data.tags
        label = (
            f"{tags.get('mlflow.runName', run.info.run_id[:8])} @ {tags.get('git_commit', '?')[:7]}"
        )
        for measure in MEASURES:
            columns[(label, measure)] = {
                _method_of(key, measure): value
                for key, value in run.data.metrics.items()
                if _method_of(key, measure)
            }
    table = pd.DataFrame(columns)
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["run", "measure"])
    table.index.name = "method"
    return table


def _method_of(key: str, measure: str) -> str | None:
    """The method of a per-method summary metric ``<method>.<measure>``, else None."""
    parts = key.split(".")
    return parts[0] if len(parts) == 2 and parts[1] == measure else None
