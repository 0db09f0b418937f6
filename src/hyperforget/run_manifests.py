"""The run manifests, ``data/09_runs/<save version>.json``: one per run that completed, with
its environment, pipelines, the versioned datasets it saved and the version of every versioned
input it loaded. Reading them, and the complete runs of an environment whose lineage a new run
can load from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RUNS = Path("data") / "09_runs"
MANIFEST_KEYS = ("save_version", "complete", "env", "pipelines", "outputs", "inputs")


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest in ``path``; a file that is not one is refused, naming it and the fix."""
    aside = f"move it aside (mv {path} {path}.broken) or delete it"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"The run manifest {path} cannot be read ({error}); {aside}: the run it describes "
            "can then no longer be a lineage."
        ) from None
    missing = [k for k in MANIFEST_KEYS if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise ValueError(
            f"{path} is not a run manifest of this project (no {', '.join(missing)}); only "
            f"kedro run writes data/09_runs/*.json: {aside}."
        )
    return manifest


def complete_runs(env: str, runs: Path = RUNS) -> list[dict[str, Any]]:
    """Manifests of the complete runs of ``env``, oldest first."""
    if not runs.is_dir():
        return []
    manifests = [read_manifest(p) for p in sorted(runs.glob("*.json"))]
    return [m for m in manifests if m["complete"] and m["env"] == env]


def lineage_version(run: dict[str, Any], name: str) -> str | None:
    """The version of dataset ``name`` in ``run``'s lineage: what it saved, else what it read."""
    if name in run["outputs"]:
        return run["save_version"]
    return run["inputs"].get(name)
