"""Project hooks: copy the plots and tables a run saves into its MLflow run; check the methods a
run asks for, and its evaluation margins, before it starts.

The catalog saves them as versioned files under ``data/08_reporting``; this hook logs the same
objects as MLflow artifacts (``plots/<name>.png``, ``tables/<name>.csv``; the final scores and
the results table at the root) so runs can be compared in the MLflow UI. kedro-mlflow's
``MlflowArtifactDataset`` cannot wrap a versioned dataset created by a dataset factory (the
inner dataset gets its own save version), hence a hook.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

# mlflow, pandas, matplotlib and torch (through the method registry) are imported inside the
# hooks, when a run needs them: settings.py imports this module at every `kedro` command.


class MlflowArtifactsHook:
    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        import mlflow
        import pandas as pd

        if mlflow.active_run() is None:
            return
        if dataset_name.endswith("_table") and isinstance(data, pd.DataFrame):
            name = dataset_name.removesuffix("_table")
            mlflow.log_text(
                data.to_csv(index=False), AT_ROOT.get(dataset_name, f"tables/{name}.csv")
            )


# logged at the run's root, where MLflow's Compare view finds the files two runs share (it does
# not look into folders): the per-scenario results (the final scores' plot: its catalog entry)
AT_ROOT = {"results_table": "results.csv"}


class CommandLineListsHook:
    """A list written with spaces on the command line (``unlearning.run=[ft ga]``, which Kedro
    reads as the one item ``"ft ga"``) reaches every node, and the parameters kedro-mlflow
    logs, as its items: ``['ft', 'ga']``."""

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        from hyperforget.core.params import split_spaced_lists

        for name in list(catalog.keys()):
            if name == "parameters" or name.startswith("params:"):
                value = catalog.load(name)
                items = split_spaced_lists(value)
                if items != value:
                    catalog[name] = items


class CheckRunParametersHook:
    """Fail before the first node, with one line naming the parameter, when any parameter is
    unknown (at the top level or in a block), missing, of the wrong type, not finite, empty or
    out of range (``schema``); when a method's block is; when the device or the Dask
    scheduler cannot be used; and when a partial rerun asks for other forget scenarios than the
    saved ones. Rather than after the data, zoo and hypernetwork stages have run."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that nothing would close
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from hyperforget.core.compute import check_reachable
        from hyperforget.core.devices import resolve_device
        from hyperforget.schema import check_parameters
        from hyperforget.unlearning.registry import method_config, method_specs

        blocks = check_parameters(catalog.load("parameters"))
        resolve_device(catalog.load("params:device"))
        if any("params:compute" in node.inputs for node in pipeline.nodes):
            check_reachable(blocks["compute"])
        methods = catalog.load("params:unlearning").get("methods") or {}
        unknown = sorted(set(methods) - set(method_specs()))
        if unknown:
            raise ValueError(
                f"unlearning.methods has parameters for unknown method(s) {unknown}; "
                f"the methods are: {', '.join(method_specs())}."
            )
        for name in method_specs():  # each block checked: keys, types, ranges
            method_config(name, methods)
        if "raw_images" in pipeline.inputs():
            _check_split_uses(blocks["data_preparation"].split, catalog.get("raw_images"))
        names = {node.name.rsplit(".", 1)[-1] for node in pipeline.nodes}
        if "plan_forget_scenarios" not in names:
            _check_saved_scenarios(pipeline, catalog)
        unread = unread_parameters(run_params.get("runtime_params") or {}, pipeline)
        if unread:
            raise ValueError(
                f"--params {'; '.join(unread)}: its value would be ignored (what this run reads "
                "was made with the saved value). Add those stages to --pipelines, or drop it."
            )


def _check_split_uses(split, raw_images) -> None:
    """The three fractions must sum to 1 wherever the split pools the data. The schema checks
    them when ``split.official_test`` is false; with it true, the source decides: one without
    an official test part is split by all three."""
    from hyperforget.core.data import check_fractions

    if split.official_test and not getattr(raw_images, "has_official_test", False):
        check_fractions(split.fractions)


def unread_parameters(runtime: dict[str, Any], pipeline) -> list[str]:
    """The ``--params`` keys that neither a node of ``pipeline``, nor a hook, nor a node that
    made the saved datasets it reads (compared with their records by the lineage) reads, each
    with the stages that would: a value for a stage after this run's would be ignored."""
    from kedro.framework.project import pipelines

    from hyperforget.pipeline_registry import STAGES

    read = _parameters_read(pipeline.nodes) | {"device"}  # device: moot without torch nodes
    inputs = pipeline.inputs()
    full = pipelines["__default__"]
    saved = sorted(set(inputs) & full.all_outputs())
    if saved:  # what made the saved inputs: lineage.check_parameters_followed compares them
        read |= _parameters_read(full.to_outputs(*saved).nodes)
    if "raw_images" in inputs:  # the catalog's raw_images reads raw_source, raw_name, raw_root
        read |= {"raw_source", "raw_name", "raw_root"}
    if any(not name.startswith("params:") and name != "parameters" for name in inputs):
        read |= {"lineage"}  # the run loads saved datasets through a lineage
    if "forget_scenarios" in inputs:
        read |= {"unlearning.forget_classes"}  # checked against the saved scenarios
    unread = []
    for key in _dotted_leaves(runtime):
        if any(_overlaps(key, name) for name in read):
            continue
        stages = sorted(
            {
                tag
                for node in full.nodes
                if any(_overlaps(key, name) for name in _parameters_read([node]))
                for tag in node.tags
                if tag in STAGES  # a node's stage (it may carry other tags)
            }
        )
        if stages:
            unread.append(f"{key} is read only by {', '.join(stages)}, which this run does not run")
    return unread


def _parameters_read(nodes) -> set[str]:
    return {
        name.removeprefix("params:")
        for n in nodes
        for name in n.inputs
        if name.startswith("params:")
    }


def _overlaps(key: str, read: str) -> bool:
    """Whether a node reading ``params:<read>`` sees the runtime parameter ``key``."""
    return key == read or key.startswith(f"{read}.") or read.startswith(f"{key}.")


def _dotted_leaves(params: dict[str, Any], prefix: str = "") -> list[str]:
    leaves = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            leaves += _dotted_leaves(value, f"{name}.")
        else:
            leaves.append(name)
    return leaves


class RunComputeHook:
    """With ``compute.backend: processes``, or ``dask`` and ``address: null``, one process pool
    or LocalCluster for the whole run: started before the first node, closed after the last or
    when the run fails (the stages send their tasks to it instead of each starting its own)."""

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
    from hyperforget.core.scenario import ForgetScenario, class_set, scenarios_from

    if not any("forget_scenarios" in node.inputs for node in pipeline.nodes):
        return
    if not (catalog.exists("forget_scenarios") and catalog.exists("class_manifest")):
        return  # nothing saved yet: the run fails on the missing input, naming it
    scenarios = scenarios_from(catalog.load("forget_scenarios"))
    saved = [s.name for s in scenarios if s.kind == "class"]
    requested = list_param(catalog.load("params:unlearning.forget_classes"))
    sets = list_param(catalog.load("params:unlearning.forget_class_sets")) or []
    wanted = list(range(int(catalog.load("class_manifest")["num_classes"])))
    if requested is not None:
        wanted = list(dict.fromkeys(requested))
    wanted = [str(c) for c in wanted]
    where = "unlearning.forget_class_sets"
    wanted += list(dict.fromkeys(ForgetScenario.of_classes(class_set(s, where)).name for s in sets))
    if wanted != saved:
        asked = "null (every class)" if requested is None else str(requested)
        classes = " ".join(w for w in wanted if "+" not in w)
        class_sets = " ".join(w for w in wanted if "+" in w)
        raise ValueError(
            f"unlearning.forget_classes is {asked} and forget_class_sets {sets}, but the saved "
            f"forget scenarios are {saved}: they are planned in data_preparation and their "
            "oracles retrained in model_zoo, so a partial rerun cannot change them. Run the "
            'chain to honour them: kedro run --pipelines unlearn --params "unlearning.'
            f'forget_classes=[{classes}],unlearning.forget_class_sets=[{class_sets}]"'
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
    the tree was dirty), the Kedro environment, the runner's class name (kedro-mlflow logs the
    runner object's repr, which differs at every run), and the host and process that run it;
    marks KILLED the runs of the experiment that a killed process left RUNNING."""

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run and set its own tags
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow

        active = mlflow.active_run()
        if active is None:
            return
        tags = git_state(Path(run_params.get("project_path") or "."))
        tags["kedro_env"] = str(run_params.get("env") or "local")
        tags["runner"] = runner_name(run_params.get("runner"))
        tags |= {"host": socket.gethostname(), "pid": str(os.getpid())}
        mlflow.set_tags(tags)
        client = mlflow.MlflowClient()
        # what MLflow 3 calls a model-training experiment (its UI's kind of experiment)
        client.set_experiment_tag(
            active.info.experiment_id, "mlflow.experimentKind", "custom_model_development"
        )
        mark_killed_runs(client, active.info.experiment_id, active.info.run_id)


class ProfileHook:
    """Wall and CPU seconds per stage and per method, and the peak memory: printed when the run
    completes, saved as the versioned ``profile_table`` and ``profile_plot`` and logged to MLflow
    (metrics ``profile.<stage>.{wall_s,cpu_s,peak_gb}``, ``tables/profile.csv``,
    ``plots/profile.png``), so a slower or larger stage shows at once."""

    def __init__(self) -> None:
        self._stopwatch = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        from hyperforget.profiling import Stopwatch

        self._stopwatch = Stopwatch()

    @hook_impl
    def before_node_run(self, node) -> None:
        if self._stopwatch is not None:
            self._stopwatch.start(node.name)

    @hook_impl
    def after_node_run(self, node) -> None:
        from hyperforget.pipeline_registry import STAGES

        if self._stopwatch is None:
            return
        tags = node.tags & set(STAGES)
        stage = "unlearning" if "unlearning" in tags else min(tags, default="other")
        # a method's nodes are in the namespace <stage>.<method>
        method = (node.namespace or "").partition(".")[2] or None
        self._stopwatch.stop(node.name, stage, method)

    @hook_impl(tryfirst=True)  # while kedro-mlflow's run is still open
    def after_pipeline_run(self, catalog) -> None:
        import mlflow

        from hyperforget.profiling import profile_bars, profile_table, profile_text

        if self._stopwatch is None or not self._stopwatch.times:
            return
        table = profile_table(self._stopwatch.times, *self._stopwatch.run_total())
        self._stopwatch = None
        # printed, not logged: the log's handler would wrap the table's columns
        print(f"\nWhere the run's time went:\n{profile_text(table)}\n", flush=True)
        bars = profile_bars(table)
        if "profile_table" in catalog:
            catalog.save("profile_table", table)
            catalog.save("profile_plot", bars)
        if mlflow.active_run() is not None:
            stages = table[table["method"] == ""]
            mlflow.log_metrics(
                {
                    f"profile.{row.stage}.{unit}": float(getattr(row, unit))
                    for row in stages.itertuples()
                    for unit in ("wall_s", "cpu_s", "peak_gb")
                }
            )
            mlflow.log_text(table.to_csv(index=False), "tables/profile.csv")
            if "profile_plot" not in catalog:  # else its catalog entry logged it
                mlflow.log_figure(bars, "plots/profile.png")


def mark_killed_runs(client, experiment_id: str, current_run_id: str) -> list[str]:
    """End as KILLED the RUNNING runs of ``experiment_id`` started on this host by a process
    that no longer exists (SIGKILL, a crash, a closed terminal leave them RUNNING); their ids."""
    from hyperforget.lineage import process_alive

    host = socket.gethostname()
    stale = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if run.info.run_id == current_run_id or tags.get("host") != host:
            continue
        if not tags.get("pid", "").isdigit() or process_alive(int(tags["pid"])):
            continue
        client.set_terminated(run.info.run_id, "KILLED")
        stale.append(run.info.run_id)
    if stale:
        logger.warning(
            "MLflow run(s) %s were left RUNNING by a process that is gone: marked KILLED",
            ", ".join(stale),
        )
    return stale

    return True


def runner_name(recorded: Any) -> str:
    """The runner's class name from what Kedro records: a class's name, an instance's repr
    (``<kedro.runner.sequential_runner.SequentialRunner object at 0x...>``) or "None" when the
    session chose its default, the SequentialRunner."""
    text = str(recorded)
    if text in ("None", ""):
        return "SequentialRunner"
    found = re.fullmatch(r"<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-f]+>", text)
    return found.group(1) if found else text
