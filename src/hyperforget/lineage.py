"""One coherent lineage per run: every run loads what it made itself, or what one earlier
complete run used, never a mix, never a guess; a run that does not complete leaves nothing
that looks current.

Kedro loads each versioned input at its newest version on disk, one dataset at a time: after a
run that re-prepared the data with other classes, a partial rerun would score weights trained
on the old classes against the new splits; a run interrupted halfway would leave its outputs
as newest; two runs at once would read each other's outputs. So:

* every run that completes writes a manifest, ``data/09_runs/<save version>.json``: its
  environment, pipelines, the versioned datasets it saved (at its save version) and the version
  of every versioned input it loaded; then it publishes the files people read as the latest
  results (``datasets.PublishedDataset``: ``results.csv``, ``results.md``);
* before the first node, each versioned dataset the run produces is pinned to the run's own
  save version (later nodes read this run's output, not a concurrent run's), and each it only
  reads is pinned to its version in the lineage of one complete run of the same environment:
  the newest, or the one named by the ``lineage`` parameter (``--load-versions`` pins single
  datasets). A dataset no complete run made or used, a pinned version whose file is gone, a
  manifest that cannot be read, are refused by name with the fix: nothing is loaded at its
  newest version by default;
* a run that fails or is interrupted writes no manifest, removes the versions it saved and
  publishes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset, Version

from hyperforget.datasets.published import discard_staged, publish_staged
from hyperforget.preflight import check_disk_space, check_writable, output_folders
from hyperforget.run_manifests import RUNS, complete_runs, lineage_version, read_manifest

logger = logging.getLogger(__name__)


def _versioned(catalog, names) -> dict[str, AbstractVersionedDataset]:
    found = {}
    for name in sorted(names):
        dataset = catalog.get(name)
        if isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None:
            found[name] = dataset
    return found


def makers(names: list[str]) -> str:
    """The registered pipelines that make the datasets ``names``, as a ``--pipelines`` value."""
    from kedro.framework.project import pipelines

    found = [
        pipeline_name
        for pipeline_name, pipeline in pipelines.items()
        if pipeline_name not in ("__default__", "unlearn")
        and set(names) & set(pipeline.all_outputs())
    ]
    return ",".join(found) or "unlearn"


def _refuse_remade_upstream(pipeline, read: list[str], run: dict[str, Any] | None) -> None:
    """Refuse a partial run that re-makes a dataset an input it reads from the lineage was made
    from (``--pipelines data_preparation,evaluation`` would score weights trained on the old
    splits and scenarios against the new ones)."""
    from kedro.framework.project import pipelines

    if run is None or not read:
        return
    full = pipelines["__default__"]
    for made in sorted(pipeline.all_outputs()):
        try:
            downstream = full.from_inputs(made).all_outputs()
        except ValueError:  # nothing reads it
            continue
        stale = sorted(set(read) & downstream)
        if stale:
            between = makers(stale)
            raise ValueError(
                f"This run re-makes {made} but reads {_names(stale)} from run "
                f"{run['save_version']}, which made them from its own {made}: the run would mix "
                f"the two. Run the stages in between too (add {between} to --pipelines), or "
                "leave out the stage that re-makes it."
            )


# parameters that say where or what a run computes, not how its datasets were made (the
# leave-one-class-out check reads the whole evaluation block, but only its own table, which
# nothing reads, follows its classes); and
# unlearning.forget_classes and forget_class_sets, compared with the saved scenarios by what
# they mean (hooks._check_saved_scenarios: null and every class listed are the same request)
NOT_RECIPE = (
    "device",
    "compute",
    "lineage",
    "unlearning.run",
    "unlearning.forget_classes",
    "unlearning.forget_class_sets",
    "evaluation.leave_out_classes",
    "evaluation.leave_out_variant",
)


def check_parameters_followed(inputs: dict[str, str], parameters: dict[str, Any]) -> None:
    """Refuse a run whose parameters differ from those that made a dataset it reads: every
    parameter read by the nodes upstream of it, compared with the manifest of the run that saved
    it (a changed recipe for a stage the run does not run would be silently ignored, and the
    run's MLflow record would show the new value beside results made with the old)."""
    from kedro.framework.project import pipelines

    full = pipelines["__default__"]
    made = full.all_outputs()
    for name, version in sorted(inputs.items()):
        path = RUNS / f"{version}.json"
        recorded = read_manifest(path).get("parameters") if path.is_file() else None
        if recorded is None or name not in made:
            continue  # a run from before manifests recorded parameters
        keys = {
            i.removeprefix("params:")
            for node in full.to_outputs(name).nodes
            for i in node.inputs
            if i.startswith("params:")
        }
        for key in sorted(keys):
            if any(key == k or key.startswith(f"{k}.") for k in NOT_RECIPE):
                continue
            difference = _first_difference(_lookup(parameters, key), _lookup(recorded, key), key)
            if difference is not None:
                where, now, then = difference
                raise ValueError(
                    f"{where} is {now!r} in this run, but {name} (run {version}) was made with "
                    f"{then!r}: this run would read results that do not follow it. Rerun the "
                    f"stages that make it (kedro run --pipelines {makers([name])}, with the "
                    f"stages after them), or set it back (--params {where}={_spelling(then)})."
                )


def _lookup(parameters: Any, key: str) -> Any:
    for part in key.split("."):
        parameters = parameters.get(part) if isinstance(parameters, dict) else None
    return parameters


def _first_difference(now: Any, then: Any, key: str) -> tuple[str, Any, Any] | None:
    """The first leaf under ``key`` where ``now`` and ``then`` differ (as JSON reads them)."""
    now, then = json.loads(json.dumps(now, default=str)), json.loads(json.dumps(then, default=str))
    if isinstance(now, dict) and isinstance(then, dict):
        for part in sorted(set(now) | set(then)):
            if f"{key}.{part}" in NOT_RECIPE:
                continue
            found = _first_difference(now.get(part), then.get(part), f"{key}.{part}")
            if found is not None:
                return found
        return None
    return None if now == then else (key, now, then)


def _spelling(value: Any) -> str:
    """``value`` as ``--params`` takes it."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + " ".join(map(str, value)) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _names(names: list[str], shown: int = 4) -> str:
    """``names`` for a one-line message: the first few, then how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _version_path(dataset: AbstractVersionedDataset, version: str) -> Path:
    filepath = Path(str(dataset._filepath))
    return filepath / version / filepath.name


class LineageHook:
    """Pins every versioned dataset of a run to one lineage, records complete runs, publishes
    their results, and removes what a failed run saved."""

    def __init__(self) -> None:
        self._inputs: dict[str, str] = {}
        self._parameters: dict[str, Any] = {}
        self._marked = False

    @hook_impl(tryfirst=True)  # a refusal comes before kedro-mlflow opens a run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        env = run_params.get("env") or "local"
        produced = _versioned(catalog, pipeline.all_outputs())
        every_output = {name: catalog.get(name) for name in pipeline.all_outputs()}
        check_writable({**output_folders(every_output), RUNS: "the run's manifest"})
        check_disk_space(produced, RUNS.parent)
        for dataset in produced.values():  # read back this run's own outputs
            save = dataset.resolve_save_version()
            dataset._version = Version(save, save)
        read = _versioned(catalog, pipeline.inputs())
        self._inputs = {}
        pinned_by_user = dict(run_params.get("load_versions") or {})
        for name in pinned_by_user:
            if name not in read:
                raise ValueError(
                    f"--load-versions names {name!r}, which this run does not read as a "
                    f"versioned input (it reads: {', '.join(read) or 'none'}); drop it or fix "
                    "the name."
                )
        unpinned = [name for name in read if name not in pinned_by_user]
        run = self._lineage_run(env, catalog, unpinned) if unpinned else None
        _refuse_remade_upstream(pipeline, unpinned, run)
        for name, dataset in read.items():
            if name in pinned_by_user:
                version, source = pinned_by_user[name], "--load-versions"
            else:
                version, source = lineage_version(run, name), f"run {run['save_version']}"
            path = _version_path(dataset, version)
            if not path.exists():
                raise ValueError(
                    f"{name} version {version} (from {source}) is gone: {path} does not exist. "
                    f"Rerun the stages that make it (kedro run --pipelines {makers([name])}), "
                    "or pin another version with --load-versions."
                )
            dataset._version = Version(version, dataset._version.save)
            self._inputs[name] = version
        self._parameters = catalog.load("parameters") if "parameters" in catalog else {}
        check_parameters_followed(self._inputs, self._parameters)
        _UNFINISHED.clear()
        _UNFINISHED.update(produced)
        self._marked = False
        if run is not None:
            logger.info("Inputs loaded from the lineage of run %s", run["save_version"])

    def _lineage_run(self, env: str, catalog, needed: list[str]) -> dict[str, Any]:
        """The complete run whose lineage holds every dataset in ``needed``, or a refusal."""
        runs = complete_runs(env)
        named = catalog.load("params:lineage") if "params:lineage" in catalog else None
        if not runs:
            raise ValueError(
                f"This run reads {_names(needed)}, but no complete run of environment "
                f"{env!r} made them (no manifest in {RUNS}). Run the stages that make them "
                f"first: kedro run --pipelines {makers(needed)} (or the whole chain, kedro run "
                "--pipeline unlearn), or pin each with --load-versions."
            )
        chosen = [r for r in runs if named is None or r["save_version"] == str(named)]
        if not chosen:
            known = ", ".join(r["save_version"] for r in runs)
            raise ValueError(
                f"lineage={named!r} is not a complete run of environment {env!r} (complete "
                f"runs: {known}); set lineage to one of them, or null for the newest."
            )
        run = chosen[-1]
        missing = [name for name in needed if lineage_version(run, name) is None]
        if missing:
            raise ValueError(
                f"{_names(missing)} are not in the lineage of run {run['save_version']} "
                f"(pipelines {', '.join(run['pipelines'])}, the newest complete run of "
                f"environment {env!r}): it neither made nor used them, so loading their newest "
                f"versions would mix runs. Run the stages that make them after it (kedro run "
                f"--pipelines {makers(missing)}, or the whole chain), or pick an earlier run "
                "with --params lineage=<save version in data/09_runs>."
            )
        return run

    @hook_impl
    def before_node_run(self) -> None:
        """At the first node (every check passed): clear what killed runs left, and mark this
        run in progress until it completes or fails."""
        if self._marked:
            return
        self._marked = True
        sweep_killed_runs()
        if _UNFINISHED:
            save = next(iter(_UNFINISHED.values()))._version.save
            RUNS.mkdir(parents=True, exist_ok=True)
            owner = {"host": socket.gethostname(), "pid": os.getpid()}
            _marker(save).write_text(json.dumps(owner))

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        produced = _versioned(catalog, pipeline.all_outputs())
        saved = {name: d.resolve_save_version() for name, d in produced.items() if d.exists()}
        save_version = next(iter(saved.values()), None)
        if save_version is not None:
            manifest = {
                "save_version": save_version,
                "complete": True,
                "env": run_params.get("env") or "local",
                "pipelines": list(run_params.get("pipeline_names") or ["__default__"]),
                "outputs": sorted(saved),
                "inputs": self._inputs,
                "parameters": self._parameters,
            }
            RUNS.mkdir(parents=True, exist_ok=True)
            partial = RUNS / f".{save_version}.json.partial"
            partial.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
            partial.replace(RUNS / f"{save_version}.json")
            _marker(save_version).unlink(missing_ok=True)
        _UNFINISHED.clear()
        publish_staged()

    @hook_impl
    def on_pipeline_error(self) -> None:
        discard_unfinished()


# the versioned datasets of the run in progress in this process, until it completes
_UNFINISHED: dict[str, AbstractVersionedDataset] = {}


def discard_unfinished() -> list[Path]:
    """Remove the versions the run in progress saved, and its staged results, when it fails or
    is interrupted: what is left is what the last complete run made. The removed folders."""
    discard_staged()
    removed = []
    for dataset in _UNFINISHED.values():
        version = dataset._version.save if dataset._version else None
        if version is None:
            continue
        _marker(version).unlink(missing_ok=True)
        folder = _version_path(dataset, version).parent
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            if folder.parent.is_dir() and not any(folder.parent.iterdir()):
                folder.parent.rmdir()
    _UNFINISHED.clear()
    if removed:
        logger.warning(
            "The run did not complete: its %d saved version(s) were removed (a later run could "
            "not use them: it wrote no manifest)",
            len(removed),
        )
    return removed


def _marker(save_version: str) -> Path:
    """``data/09_runs/.<save version>.running``: the host and pid of a run in progress."""
    return RUNS / f".{save_version}.running"


def sweep_killed_runs(data: Path = RUNS.parent) -> list[str]:
    """Remove the versions saved by runs of this host whose process is gone without completing
    (SIGKILL, a crash, a power cut leave them; no hook runs): their save versions."""
    host = socket.gethostname()
    swept = []
    for marker in sorted(RUNS.glob(".*.running")) if RUNS.is_dir() else []:
        try:
            owner = json.loads(marker.read_text())
            pid = int(owner["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours to judge
        if owner.get("host") != host or process_alive(pid):
            continue
        version = marker.name.removeprefix(".").removesuffix(".running")
        for folder in data.glob(f"*/*/{version}"):
            shutil.rmtree(folder, ignore_errors=True)
            if folder.parent.is_dir() and not any(folder.parent.iterdir()):
                folder.parent.rmdir()
        marker.unlink(missing_ok=True)
        swept.append(version)
    if swept:
        logger.warning(
            "Removed the versions saved by run(s) %s, killed before they completed",
            ", ".join(swept),
        )
    return swept


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
