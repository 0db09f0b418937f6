"""Project hooks: copy the plots and tables a run saves into its MLflow run; check the methods a
run asks for, and its evaluation margins, before it starts.

The catalog saves them as versioned files under ``data/08_reporting``; this hook logs the same
objects as MLflow artifacts (``plots/<name>.png``, ``tables/<name>.csv``) so runs can be compared
in the MLflow UI. kedro-mlflow's ``MlflowArtifactDataset`` cannot wrap a versioned dataset
created by a dataset factory (the inner dataset gets its own save version), hence a hook.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from kedro.framework.hooks import hook_impl
from matplotlib.figure import Figure

from hyperforget.params import (
    optional_positive_int,
    parse_retain_margins,
    run_counts,
    verdict_bars,
)
from hyperforget.unlearning import select_methods


class MlflowArtifactsHook:
    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if mlflow.active_run() is None:
            return
        if dataset_name.endswith("_plot") and isinstance(data, Figure):
            mlflow.log_figure(data, f"plots/{dataset_name.removesuffix('_plot')}.png")
        elif dataset_name.endswith("_table") and isinstance(data, pd.DataFrame):
            name = dataset_name.removesuffix("_table")
            mlflow.log_text(data.to_csv(index=False), f"tables/{name}.csv")


class CheckRunParametersHook:
    """Fail before the first node when ``unlearning.run`` names a method that does not exist, or
    ``evaluation.retain_margins``, ``mia_max_samples``, the verdict bars or the run counts are
    not valid, rather than after the data, zoo and hypernetwork stages have run."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that nothing would close
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        names = {node.name for node in pipeline.nodes}
        if any(name.startswith("unlearn_") for name in names):
            select_methods(catalog.load("params:unlearning")["run"])
        if "evaluate_oracle_spread" in names:
            evaluation = catalog.load("params:evaluation")
            parse_retain_margins(evaluation["retain_margins"])
            optional_positive_int(evaluation, "mia_max_samples", "evaluation")
            verdict_bars(evaluation)
        if names & {"plan_zoo", "evaluate", "plan_spm_deletions"}:
            run_counts(catalog.load("params:evaluation"))
