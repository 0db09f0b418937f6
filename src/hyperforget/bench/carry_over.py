"""``bench carry-over``: whether the defaults carry over from one data size, and one kind of
digit, to another: one ``kedro run`` per digit source and size, each in its own project folder,
and per run what it found about its original and what each method did not forget."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from hyperforget.bench.common import PROJECT_ROOT, newest

if TYPE_CHECKING:
    import pandas as pd


def carry_over_project(out: Path, name: str) -> Path:
    """A project folder of its own for one run (a source at a size): the configuration copied
    (without conf/local), so each run's versions, MLflow runs and reports stay apart."""
    import shutil

    project = out / name
    project.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        PROJECT_ROOT / "conf",
        project / "conf",
        ignore=shutil.ignore_patterns("local"),
        dirs_exist_ok=True,
    )
    (project / "conf" / "local").mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / "src").mkdir(exist_ok=True)  # Kedro wants one; the package is installed
    return project


def carry_over_summary(results: pd.DataFrame, size: str) -> pd.DataFrame:
    """One row per method of a run's results table: the classes it did not forget, the
    scenarios with an unreliable retrained distribution, its mean retain-test accuracy and
    the 95% CI of that mean over the scenarios."""
    import pandas as pd

    rows = []
    for method, table in results.groupby("method", sort=False):
        retain = table["acc_retain_test"].astype(float)
        half = 1.96 * retain.std(ddof=1) / len(retain) ** 0.5 if len(retain) > 1 else 0.0
        not_forgotten = table.loc[~table["forgot"].astype(bool), "forget_classes"]
        unreliable = table.loc[
            ~table["retrained_reliable"].fillna(True).astype(bool), "forget_classes"
        ]
        rows.append(
            {
                "size": size,
                "method": method,
                "not_forgotten": " ".join(map(str, not_forgotten)) or "-",
                "unreliable_retraining": " ".join(map(str, unreliable)) or "-",
                "max_forget_test": float(table["acc_forget_test"].max()),
                "retain_test": f"{retain.mean():.2f} ± {half:.2f}",
            }
        )
    return pd.DataFrame(rows)


def competence_summary(project: Path, run: str, returncode: int) -> dict:
    """What a run found about its original: the learning rate it chose, the original's and the
    logistic-regression reference's val accuracy and their gap; for a run that stopped, the
    line that says why."""
    import json

    from hyperforget.datasets import SafetensorsDataset

    row = {"run": run, "lr": float("nan"), "original_val": float("nan")}
    recipes = project / "data" / "05_model_input" / "training_recipe.json"
    originals = project / "data" / "06_models" / "original_weights.safetensors"
    if returncode == 0 and recipes.is_dir() and originals.is_dir():
        chosen = json.loads(newest(recipes).read_text())
        original = SafetensorsDataset(filepath=str(newest(originals))).load()
        accuracy = float(original["val_accuracy"][0])
        reference = float(original["reference_val_accuracy"][0])
        poor = json.loads(original["__metadata__"]["poor_original"])
        return {
            "run": run,
            "lr": chosen["lr"],
            "original_val": accuracy,
            "reference_val": reference,
            "gap": reference - accuracy,
            "status": "poor original (marked)" if poor else "competent",
        }
    log = project / "info.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    reasons = [line.strip() for line in lines if "points below a logistic regression" in line]
    status = reasons[-1][:160] if reasons else f"failed (exit {returncode}); see {log}"
    return {**row, "reference_val": float("nan"), "gap": float("nan"), "status": status}


def carry_over_command(  # noqa: PLR0913 (one run's data, size and extent)
    kedro: str, env: str, raw_root: str, size: str, until: str = "results"
) -> list[str]:
    """The unlearn run of one source at one size (``until original``: only as far as the
    checked original). Kedro's ``--params`` takes one argument, its pairs separated by commas."""
    params = [f"raw_root={Path(raw_root).resolve()}"]
    if size != "full":
        params.append(f"data_preparation.subset={int(size)}")
    command = [kedro, "run", "--pipelines", "unlearn", "--env", env, "--params", ",".join(params)]
    if until == "original":
        command += ["--to-nodes", "model_zoo.train_reference_models"]
    return command


def carry_over_roots(sources: list[str], raw_root: str | None, out: Path) -> dict[str, str]:
    """The torchvision root each source is read from: ``--raw-root`` itself for ``mnist`` when
    given, else a folder under ``out/sources`` written by ``digit_variants.build_source`` from
    the MNIST of ``--raw-root`` (or the embedded sample)."""
    from hyperforget.core import digit_variants
    from hyperforget.core.sources import load_embedded_mnist, load_idx_dataset

    roots = {}
    base = None
    for source in sources:
        if source == "mnist" and raw_root is not None:
            roots[source] = raw_root
            continue
        if base is None and source != "sklearn_digits":
            base = load_idx_dataset("MNIST", raw_root) if raw_root else load_embedded_mnist()
        root = out / "sources" / source
        if not (root / "MNIST" / "raw").is_dir():
            digit_variants.build_source(source, base, root)
        roots[source] = str(root)
    return roots


def bench_carry_over(  # noqa: PLR0913 (what to run, where from, how far)
    sizes: list[str],
    env: str,
    raw_root: str | None,
    out: Path,
    sources: list[str] | None = None,
    until: str = "results",
) -> None:
    """Each source at each size run in its own project folder, then their summaries printed and
    saved under ``out`` (``competence.csv``, ``carry_over.csv``)."""
    import os
    import subprocess
    import sys

    import pandas as pd

    kedro = str(Path(sys.executable).with_name("kedro"))
    roots = carry_over_roots(sources or ["mnist"], raw_root, out)
    summaries, competence = [], []
    for source, root in roots.items():
        for size in sizes if source != "sklearn_digits" else ["full"]:
            run = f"{source}_{size}"
            project = carry_over_project(out, run)
            command = carry_over_command(kedro, env, root, size, until)
            print(f"[{run}] {' '.join(command)}  (in {project})", flush=True)
            start = time.perf_counter()
            done = subprocess.run(
                command, cwd=project, env={**os.environ, "COLUMNS": "200"}, check=False
            )
            took = time.perf_counter() - start
            competence.append(competence_summary(project, run, done.returncode))
            if done.returncode != 0:
                print(f"[{run}] kedro run stopped (exit {done.returncode}); see {project}/info.log")
                continue
            if until == "results":
                results = pd.read_csv(project / "data" / "08_reporting" / "results.csv")
                summaries.append(carry_over_summary(results, run))
            print(f"[{run}] done in {took / 60:.1f} min", flush=True)
    checked = pd.DataFrame(competence)
    print("\nThe original against a logistic regression on the same pixels (val accuracy, %):")
    print(checked.round(2).to_string(index=False))
    checked.to_csv(out / "competence.csv", index=False)
    print(f"Saved {out / 'competence.csv'}")
    if not summaries:
        return
    table = pd.concat(summaries, ignore_index=True)
    print("\nClasses each method did not forget, per run (- = none):")
    print(table.pivot(index="method", columns="size", values="not_forgotten").to_string())
    print("\nScenarios whose retrained distribution is unreliable (- = none):")
    print(table.pivot(index="method", columns="size", values="unreliable_retraining").to_string())
    print("\nMean retain-test accuracy (95% CI over the scenarios):")
    print(table.pivot(index="method", columns="size", values="retain_test").to_string())
    table.to_csv(out / "carry_over.csv", index=False)
    print(f"\nSaved {out / 'carry_over.csv'}")
