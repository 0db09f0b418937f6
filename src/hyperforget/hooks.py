"""Project hooks: copy the plots and tables a run saves into its MLflow run; check the methods a
run asks for, and its evaluation margins, before it starts.

The catalog saves them as versioned files under ``data/08_reporting``; this hook logs the same
objects as MLflow artifacts (``plots/<name>.png``, ``tables/<name>.csv``) so runs can be compared
in the MLflow UI. kedro-mlflow's ``MlflowArtifactDataset`` cannot wrap a versioned dataset
created by a dataset factory (the inner dataset gets its own save version), hence a hook.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from hyperforget.core.params import (
    non_negative,
    optional_positive_int,
    parse_retain_margins,
    run_counts,
    verdict_bars,
)

# mlflow, pandas, matplotlib and torch (through the method registry) are imported inside the
# hooks, when a run needs them: settings.py imports this module at every `kedro` command.


class MlflowArtifactsHook:
    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        import mlflow
        import pandas as pd
        from matplotlib.figure import Figure

        if mlflow.active_run() is None:
            return
        if dataset_name.endswith("_plot") and isinstance(data, Figure):
            mlflow.log_figure(data, f"plots/{dataset_name.removesuffix('_plot')}.png")
        elif dataset_name.endswith("_table") and isinstance(data, pd.DataFrame):
            name = dataset_name.removesuffix("_table")
            mlflow.log_text(data.to_csv(index=False), f"tables/{name}.csv")


class CheckRunParametersHook:
    """Fail before the first node when ``unlearning.run`` names a method that does not exist, a
    method's parameters are unknown, missing, of the wrong type or out of range, or
    ``evaluation.retain_margins``, ``mia_max_samples``, the verdict bars or the run counts are
    not valid, rather than after the data, zoo and hypernetwork stages have run."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that nothing would close
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from hyperforget.core.compute import check_reachable
        from hyperforget.core.schema import STAGES, check_stage
        from hyperforget.unlearning import method_config, method_specs, select_methods

        for stage in STAGES:  # every block, whichever stages run: keys, types, ranges
            check_stage(stage, catalog.load(f"params:{stage}"))
        names = {node.name.rsplit(".", 1)[-1] for node in pipeline.nodes}
        if any("params:compute" in node.inputs for node in pipeline.nodes):
            check_reachable(check_stage("compute", catalog.load("params:compute")))
        if any(name.startswith("unlearn_") for name in names):
            unlearning = catalog.load("params:unlearning")
            select_methods(unlearning["run"])
            methods = unlearning["methods"] or {}
            unknown = sorted(set(methods) - set(method_specs()))
            if unknown:
                raise ValueError(
                    f"unlearning.methods has parameters for unknown method(s) {unknown}; "
                    f"the methods are: {', '.join(method_specs())}."
                )
            for name in method_specs():  # each block checked: keys, types, ranges
                method_config(name, methods)
        if "evaluate_oracle_spread" in names:
            evaluation = catalog.load("params:evaluation")
            parse_retain_margins(evaluation["retain_margins"])
            optional_positive_int(evaluation, "mia_max_samples", "evaluation")
            verdict_bars(evaluation)
            non_negative(evaluation, "oracle_max_z", 3.0, "a number of retrained sd")
        if names & {"plan_zoo", "evaluate", "plan_spm_deletions"}:
            run_counts(catalog.load("params:evaluation"))
        if "plan_forget_scenarios" not in names:
            _check_saved_scenarios(pipeline, catalog)


class DaskClusterHook:
    """With ``compute.backend: dask`` and ``address: null``, one LocalCluster for the whole run:
    started before the first node, closed after the last or when the run fails (the stages'
    clients connect to it instead of each starting a cluster of its own)."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from hyperforget.core.compute import ComputeConfig, open_run_cluster

        if any("params:compute" in node.inputs for node in pipeline.nodes):
            open_run_cluster(ComputeConfig.from_params(catalog.load("params:compute"), "compute"))

    @hook_impl
    def after_pipeline_run(self) -> None:
        from hyperforget.core.compute import close_run_cluster

        close_run_cluster()

    @hook_impl
    def on_pipeline_error(self) -> None:
        from hyperforget.core.compute import close_run_cluster

        close_run_cluster()


def _check_saved_scenarios(pipeline, catalog) -> None:
    """A partial rerun (``--pipelines unlearning,evaluation``) uses the forget scenarios saved
    by ``data_preparation``, and the oracles ``model_zoo`` retrained for them: refuse when
    ``unlearning.forget_classes`` asks for others, rather than silently run the saved ones."""
    from hyperforget.core.params import list_param

    if not any("forget_scenarios" in node.inputs for node in pipeline.nodes):
        return
    if not (catalog.exists("forget_scenarios") and catalog.exists("class_manifest")):
        return  # nothing saved yet: the run fails on the missing input, naming it
    saved = [s["classes"][0] for s in catalog.load("forget_scenarios") if len(s["classes"]) == 1]
    requested = list_param(catalog.load("params:unlearning.forget_classes"))
    wanted = list(range(int(catalog.load("class_manifest")["num_classes"])))
    if requested is not None:
        wanted = list(dict.fromkeys(requested))
    if wanted != saved:
        asked = "null (every class)" if requested is None else str(requested)
        classes = " ".join(map(str, wanted))
        raise ValueError(
            f"unlearning.forget_classes is {asked}, but the saved forget scenarios are classes "
            f"{saved}: they are planned in data_preparation and their oracles retrained in "
            "model_zoo, so a partial rerun cannot change them. Run the chain to honour it: "
            f'kedro run --pipelines unlearn --params "unlearning.forget_classes=[{classes}]"'
        )


def git_state(path: Path) -> dict[str, str]:
    """The commit checked out at ``path`` and whether its tracked files differ from it
    ("unknown" outside a git checkout or without git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], check=False, cwd=path, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": "unknown" if dirty is None else str(bool(dirty))}


class MlflowLineageHook:
    """Tags each MLflow run with the code and configuration it ran: the git commit (and whether
    the tree was dirty), the Kedro environment, and the runner's class name (kedro-mlflow logs
    the runner object's repr, which differs at every run)."""

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run and set its own tags
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow

        if mlflow.active_run() is None:
            return
        tags = git_state(Path(run_params.get("project_path") or "."))
        tags["kedro_env"] = str(run_params.get("env") or "local")
        tags["runner"] = runner_name(run_params.get("runner"))
        mlflow.set_tags(tags)


def runner_name(recorded: Any) -> str:
    """The runner's class name from what Kedro records: a class's name, an instance's repr
    (``<kedro.runner.sequential_runner.SequentialRunner object at 0x...>``) or "None" when the
    session chose its default, the SequentialRunner."""
    text = str(recorded)
    if text in ("None", ""):
        return "SequentialRunner"
    found = re.fullmatch(r"<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-f]+>", text)
    return found.group(1) if found else text
