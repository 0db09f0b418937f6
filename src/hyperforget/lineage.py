"""One coherent lineage per run: every run loads what it made itself, or what one earlier
complete run used, never a mix.

Kedro loads each versioned input at its newest version on disk, one dataset at a time: after a
run that re-prepared the data with other classes, a partial rerun would score weights trained
on the old classes against the new splits; a run interrupted halfway would leave its outputs
as newest; two runs at once would read each other's outputs. So:

* every run that completes writes a manifest, ``data/09_runs/<save version>.json``: its
  environment, pipelines, the versioned datasets it saved (at its save version) and the version
  of every versioned input it loaded;
* before the first node, each versioned dataset the run produces is pinned to the run's own
  save version (later nodes read this run's output, not a concurrent run's), and each it only
  reads is pinned to its version in the lineage of one complete run of the same environment:
  the newest, or the one named by the ``lineage`` parameter. A dataset that run neither made
  nor used is refused, naming the fix: runs that fail or are interrupted write no manifest, so
  their outputs are never loaded by a later run.

Data made before manifests existed (no manifest at all) are loaded at their newest version, as
Kedro does, with a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset, Version

logger = logging.getLogger(__name__)

RUNS = Path("data") / "09_runs"


def _versioned(catalog, names) -> dict[str, AbstractVersionedDataset]:
    found = {}
    for name in sorted(names):
        dataset = catalog.get(name)
        if isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None:
            found[name] = dataset
    return found


def complete_runs(env: str, runs: Path = RUNS) -> list[dict[str, Any]]:
    """Manifests of the complete runs of ``env``, oldest first."""
    if not runs.is_dir():
        return []
    manifests = [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]
    return [m for m in manifests if m.get("complete") and m.get("env") == env]


def lineage_version(run: dict[str, Any], name: str) -> str | None:
    """The version of dataset ``name`` in ``run``'s lineage: what it saved, else what it read."""
    if name in run["outputs"]:
        return run["save_version"]
    return run["inputs"].get(name)


class LineageHook:
    """Pins every versioned dataset of a run to one lineage, and records complete runs."""

    def __init__(self) -> None:
        self._inputs: dict[str, str] = {}

    @hook_impl(tryfirst=True)  # a refusal comes before kedro-mlflow opens a run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        env = run_params.get("env") or "local"
        produced = _versioned(catalog, pipeline.all_outputs())
        for dataset in produced.values():  # read back this run's own outputs
            save = dataset.resolve_save_version()
            dataset._version = Version(save, save)
        read = _versioned(catalog, pipeline.inputs())
        self._inputs = {}
        if not read:
            return
        runs = complete_runs(env)
        named = catalog.load("params:lineage") if "params:lineage" in catalog else None
        pinned_by_user = set(run_params.get("load_versions") or {})
        if not runs and named is None:
            logger.warning(
                "No complete run of environment %r has a manifest in %s yet: inputs are loaded "
                "at their newest versions",
                env,
                RUNS,
            )
            return
        chosen = [r for r in runs if named is None or r["save_version"] == str(named)]
        if not chosen:
            known = ", ".join(r["save_version"] for r in runs) or "none"
            raise ValueError(
                f"lineage={named!r} is not a complete run of environment {env!r} (complete "
                f"runs: {known}); set lineage to one of them, or null for the newest."
            )
        run = chosen[-1]
        missing = [
            name
            for name in read
            if lineage_version(run, name) is None
            and name not in (run_params.get("load_versions") or {})
        ]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} are not in the lineage of run {run['save_version']} "
                f"(pipelines {', '.join(run['pipelines'])}, the newest complete run of "
                f"environment {env!r}): it neither made nor used them, so loading their newest "
                "versions would mix runs. Run the stages that make them after it (e.g. kedro "
                "run --pipelines unlearn), or pick an earlier run with --params lineage=<save "
                "version in data/09_runs>."
            )
        for name, dataset in read.items():
            if name in pinned_by_user:  # --load-versions wins
                continue
            version = lineage_version(run, name)
            dataset._version = Version(version, dataset._version.save)
            self._inputs[name] = version
        logger.info("Inputs loaded from the lineage of run %s", run["save_version"])

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        produced = _versioned(catalog, pipeline.all_outputs())
        saved = {name: d.resolve_save_version() for name, d in produced.items() if d.exists()}
        save_version = next(iter(saved.values()), None)
        if save_version is None:
            return
        manifest = {
            "save_version": save_version,
            "complete": True,
            "env": run_params.get("env") or "local",
            "pipelines": list(run_params.get("pipeline_names") or ["__default__"]),
            "outputs": sorted(saved),
            "inputs": self._inputs,
        }
        RUNS.mkdir(parents=True, exist_ok=True)
        partial = RUNS / f".{save_version}.json.partial"
        partial.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        partial.replace(RUNS / f"{save_version}.json")
