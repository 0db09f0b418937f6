"""End to end: `kedro run --pipeline unlearn --env test` in a temporary copy of the project."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from hyperforget.core.flat_params import load_flat_into
from hyperforget.core.targets import build_target
from hyperforget.datasets import SafetensorsDataset
from hyperforget.evaluation.run_comparison import compare_last_runs, project_tracking_uri
from hyperforget.profiling import STAGE_ORDER
from hyperforget.unlearning.registry import available_methods
from tests.browser import chromium_page, free_port, serving
from tests.conftest import copy_project, run_kedro

SPM_ROWS = ("spm", "spm_oracle")


def run_unlearn(
    project_path: Path,
    runtime_params: dict | None = None,
    pipelines: tuple[str, ...] = ("unlearn",),
    env: str = "test",
) -> None:
    bootstrap_project(project_path)
    try:
        with KedroSession.create(
            project_path=project_path, env=env, runtime_params=runtime_params
        ) as session:
            session.run(pipeline_names=list(pipelines))
    finally:
        # The MLflow run must be closed, or the next run in this process would log into it.
        assert mlflow.active_run() is None


def written_files(project_path: Path) -> set[Path]:
    return {p for p in (project_path / "data").rglob("*") if p.is_file()}


def trained_outputs(project_path: Path) -> set[Path]:
    """Files of trained models and their inputs: what a refused run must not add."""
    stages = ("05_model_input", "06_models", "07_model_output")
    return {p for p in written_files(project_path) if any(s in str(p) for s in stages)}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    """One test-environment run of `unlearn`, shared by the checks below."""
    path = copy_project(tmp_path_factory.mktemp("project"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        run_unlearn(path)
        yield path


def only_version(path: Path) -> Path:
    versions = list(path.iterdir())
    assert len(versions) == 1, versions
    return versions[0] / path.name


def test_versioned_splits_are_written(project):
    for split in ("train", "val", "test"):
        file = only_version(project / "data/03_primary" / f"{split}_split.safetensors")
        tensors = SafetensorsDataset(filepath=str(file)).load()
        assert tensors["images"].dtype == torch.float32
        assert tensors["images"].shape[1:] == (1, 28, 28)
        assert set(tensors["labels"].unique().tolist()) == {0, 1, 2, 3}  # MNIST-4 in conf/test


def test_manifest_table_and_plot_are_written(project):
    manifest = pd.read_json(
        only_version(project / "data/03_primary/class_manifest.json"), typ="series"
    )
    assert manifest["num_classes"] == 4
    assert manifest["counts"]["train"] == [350] * 4
    table = pd.read_parquet(only_version(project / "data/08_reporting/class_counts.parquet"))
    assert table["test"].tolist() == [100] * 4
    assert only_version(project / "data/08_reporting/class_counts.png").stat().st_size > 0


def test_mlflow_run_recorded_in_the_test_database(project):
    assert not (project / "mlflow.db").exists()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow-test.db'}")
    runs = mlflow.search_runs(experiment_names=["hyperforget"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["params.data_preparation.classes"] == "[0, 1, 2, 3]"
    assert run["metrics.data_counts.train.count_c3"] == 350
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "plots")}
    assert artifacts == {
        "plots/class_counts.png",
        "plots/zoo_loss_distribution.png",
        "plots/dihyfo1_alignment.png",
        "plots/dihyfo2_alignment.png",
        "plots/per_class_accuracy.png",
        "plots/loss_alignment.png",
        "plots/oracle_agreement.png",
        "plots/oracle_spread.png",
        "plots/spm_oracle_spread.png",
        "plots/profile.png",
    }
    # at the root, where MLflow's Compare view finds them
    root = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"]) if not a.is_dir}
    assert root == {"final_score.png", "results.csv"}
    assert run["tags.kedro_env"] == "test" and run["tags.runner"] == "SequentialRunner"
    assert run["tags.git_commit"] == "unknown"  # the test project is no git checkout
    # each method's summary at the top level; per scenario, the results table
    results = pd.read_csv(project / "data/08_reporting/results.csv")
    methods = set(results["method"])
    for method in methods:
        for measure in ("final_score", "relative_f", "retain_test", "share_forgot"):
            assert f"metrics.{method}.{measure}" in run, (method, measure)
    ltu = results[results["method"] == "ltu"]
    assert run["metrics.ltu.retain_test"] == pytest.approx(ltu["acc_retain_test"].mean())
    metrics = [c for c in run.index if c.startswith("metrics.") and not pd.isna(run[c])]
    assert not [m for m in metrics if ".c0." in m or ".c1_3." in m]  # no per-scenario scalars
    assert len(metrics) < 20 * len(methods)
    assert run["metrics.dihyfo1.forget_test"] >= 0
    assert run["metrics.dihyfo1.train_loss"] > 0
    assert "metrics.dihyfo2.held_out_r2" in run
    assert run["metrics.zoo.checkpoints"] > 0
    assert 0 <= run["metrics.unlearning.ltu.mean.conflict_fraction"] <= 1
    assert run["metrics.unlearning.ssd.mean.seconds"] > 0
    assert run["metrics.eval.oracle_spread.mean.retrained_sd"] >= 0
    assert 0 <= run["metrics.eval.retrain_pass.within_2.share_passing"] <= 100
    assert 0 <= run["metrics.ltu.forgetting_quality"] <= 1
    assert 0 <= run["metrics.spm.oracle_spread.mean.retrained_agreement_mean"] <= 100
    experiment = mlflow.MlflowClient().get_experiment(run["experiment_id"])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert run["metrics.profile.hypernetwork.cpu_s"] > 0
    assert run["metrics.profile.run.wall_s"] >= run["metrics.profile.evaluation.wall_s"] > 0
    assert only_version(project / "data/08_reporting/profile.png").stat().st_size > 0
    profile = pd.read_parquet(only_version(project / "data/08_reporting/profile.parquet"))
    stages = profile[profile["method"] == ""].set_index("stage")
    assert list(stages.index) == [*STAGE_ORDER, "run"]
    assert stages["cpu_s"].drop("run").sum() <= stages.loc["run", "cpu_s"] + 1
    methods = set(profile.loc[profile["stage"] == "unlearning", "method"]) - {""}
    assert methods == set(available_methods())


def test_zoo_reference_models_and_reports_are_written(project):
    zoo = SafetensorsDataset(
        filepath=str(only_version(project / "data/06_models/zoo_weights.safetensors"))
    ).load()
    table = pd.read_parquet(only_version(project / "data/05_model_input/zoo_checkpoints.parquet"))
    assert zoo["params"].shape == (len(table), 7894)  # MNIST-4: 784*10 + 10 + 10*4 + 4
    assert set(table["regime"]) == {"learn", "retain", "forget", "refit"}
    assert "hidden" in zoo["__metadata__"]["model"]
    oracles = SafetensorsDataset(
        filepath=str(only_version(project / "data/06_models/oracle_weights.safetensors"))
    ).load()
    assert oracles["params"].shape == (6, 7894)  # a row per class, then 1+3 and random10
    assert json.loads(oracles["__metadata__"]["after_classes"]) == ["1+3", "random10"]
    assert (oracles["seconds"] > 0).all()
    references = pd.read_parquet(
        only_version(project / "data/08_reporting/reference_models.parquet")
    )
    assert references["model"].tolist() == ["original"] + [f"oracle_{k}" for k in range(4)]
    assert only_version(project / "data/08_reporting/zoo_loss_distribution.png").exists()
    retrained = SafetensorsDataset(
        filepath=str(only_version(project / "data/06_models/retrained_weights.safetensors"))
    ).load()
    assert retrained["params"].shape == (6, 6, 7894)  # conf/test: evaluation.oracle_runs 6
    seeds = {*retrained["seeds"].flatten().tolist()}
    assert len(seeds) == 36 and not seeds & {*oracles["seeds"].tolist()}


def test_the_run_chooses_its_recipe_on_val_and_checks_its_original(project):
    chosen = json.loads(
        only_version(project / "data/05_model_input/training_recipe.json").read_text()
    )
    assert chosen["training"]["lr"] == chosen["lr"] in {0.1, 0.03, 0.01, 0.003}
    accuracy = chosen["candidate_val_accuracy"]
    assert accuracy[str(chosen["lr"])] >= max(accuracy.values()) - 1.0
    original = SafetensorsDataset(
        filepath=str(only_version(project / "data/06_models/original_weights.safetensors"))
    ).load()
    assert original["reference_val_accuracy"].item() == chosen["reference_val_accuracy"] > 80
    assert original["val_accuracy"].item() > chosen["reference_val_accuracy"] - 10
    assert original["__metadata__"]["poor_original"] == "false"
    results = pd.read_csv(project / "data/08_reporting/results.csv")
    assert not results["poor_original"].any()
    summary = pd.read_parquet(only_version(project / "data/08_reporting/zoo_summary.parquet"))
    assert summary["stalled_runs"].dtype.kind == "i" and (summary["stalled_runs"] >= 0).all()


def test_hypernetworks_are_trained_saved_and_checked(project):
    for variant in ("dihyfo1", "dihyfo2"):
        for kind in ("weights", "ema_weights"):
            path = only_version(project / f"data/06_models/{variant}_{kind}.safetensors")
            weights = SafetensorsDataset(filepath=str(path)).load()
            assert f'"variant": "{variant}"' in weights["__metadata__"]["dihyfo_config"]
        table = pd.read_parquet(
            only_version(project / f"data/08_reporting/{variant}_alignment.parquet")
        )
        assert table["class"].tolist()[-2:] == ["all", "all_log1p"]
        assert table["r2"].notna().all()
        assert only_version(project / f"data/08_reporting/{variant}_alignment.png").exists()


def read_runs(project: Path) -> pd.DataFrame:
    """The newest per-run table."""
    versions = sorted((project / "data/08_reporting/results_runs.parquet").iterdir())
    runs = pd.read_parquet(versions[-1] / "results_runs.parquet")
    return runs.astype({"forget_classes": str})


def test_every_run_matches_its_saved_weights(project):
    """Reload every run of each method (and every retrained model) and recompute its
    accuracies with plain torch."""
    runs = read_runs(project)
    assert set(runs["method"]) == {"original", "oracle", *available_methods(), *SPM_ROWS}
    counts = runs.groupby("method")["run"].nunique()
    assert counts["original"] == 1 and counts["oracle"] == 6  # conf/test: R = 6
    assert (counts[available_methods()] == 3).all() and counts["spm"] == 3  # M = 3
    assert counts["spm_oracle"] == 6
    test = SafetensorsDataset(
        filepath=str(only_version(project / "data/03_primary/test_split.safetensors"))
    ).load()
    net = build_target((1, 28, 28), 4, (10,))
    files = {m: f"data/07_model_output/{m}_unlearned_weights.safetensors" for m in ["ft", "ltu"]}
    files["oracle"] = "data/06_models/retrained_weights.safetensors"
    for method, file in files.items():
        weights = SafetensorsDataset(filepath=str(only_version(project / file))).load()
        for s, k in enumerate(["0", "1", "2", "3", "1+3"]):
            for r, params in enumerate(weights["params"][s]):
                load_flat_into(net, params)
                with torch.no_grad():
                    correct = (net(test["images"]).argmax(1) == test["labels"]).float()
                forget = torch.isin(test["labels"], torch.tensor([int(c) for c in k.split("+")]))
                row = runs[(runs["method"] == method) & (runs["forget_classes"] == k)]
                row = row[row["run"] == r]
                assert correct[forget].mean().item() * 100 == pytest.approx(
                    row["acc_forget_test"].item(), abs=1e-3
                )
                assert correct[~forget].mean().item() * 100 == pytest.approx(
                    row["acc_retain_test"].item(), abs=1e-3
                )


def test_results_summarise_the_runs_against_the_retrained_distribution(project):
    """Recompute one row of the results table from the per-run table."""
    from scipy import stats

    results = pd.read_csv(project / "data/08_reporting/results.csv", dtype={"forget_classes": str})
    ltu_scenarios = results[results["method"] == "ltu"]["forget_classes"]
    assert sorted(ltu_scenarios) == ["0", "1", "1+3", "2", "3", "random10"]
    assert (project / "data/08_reporting/results.md").read_text().startswith("| method")
    runs = read_runs(project)
    row = results[(results["method"] == "ltu") & (results["forget_classes"] == "2")].iloc[0]
    mine = runs[(runs["method"] == "ltu") & (runs["forget_classes"] == "2")]
    retrained = runs[(runs["method"] == "oracle") & (runs["forget_classes"] == "2")]
    values = mine["acc_retain_test"].to_numpy()
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / len(values) ** 0.5
    assert row["acc_retain_test"] == pytest.approx(values.mean())
    assert row["acc_retain_test_ci_high"] == pytest.approx(values.mean() + half)
    reference = retrained["acc_retain_test"].to_numpy()
    z = (values.mean() - reference.mean()) / reference.std(ddof=1)
    assert row["acc_retain_test_z"] == pytest.approx(z)
    low, high = np.quantile(reference, [0.025, 0.975])
    assert row["acc_retain_test_in_retrained_95"] == (low <= values.mean() <= high)
    score = (
        row["forgetting_quality"]
        * mine["acc_retain_train"].mean()
        / retrained["acc_retain_train"].mean()
        * mine["acc_test"].mean()
        / retrained["acc_test"].mean()
    )
    assert row["final_score"] == pytest.approx(score)
    assert 0 <= row["forgetting_quality"] <= 1
    original = results[results["method"] == "original"]
    assert (original["forgetting_quality"] == 0).all()  # copies of one model never forgot
    oracle = results[results["method"] == "oracle"]
    assert (oracle["forgetting_quality"] == oracle["retrained_forgetting_quality"]).all()
    assert oracle["relative_forgetting_quality"].tolist() == pytest.approx([1.0] * len(oracle))
    assert row["relative_forgetting_quality"] == pytest.approx(
        row["forgetting_quality"] / row["retrained_forgetting_quality"]
    )
    classes = oracle["forget_classes"] != "random10"
    assert (oracle.loc[classes, "acc_forget_test"] == 0).all()
    assert oracle["forgot"].all() and not original["forgot"].any()
    assert oracle["retrained_reliable"].notna().all()
    assert results[results["method"] == "spm"]["retrained_reliable"].isna().all()


def test_every_method_answers_the_sample_wise_scenario_but_dihyfo_which_says_why(project):
    results = pd.read_csv(project / "data/08_reporting/results.csv", dtype={"forget_classes": str})
    sample_wise = results[results["forget_classes"] == "random10"].set_index("method")
    reasons = sample_wise["not_applicable"].dropna()
    assert sorted(reasons.index) == ["dihyfo1", "dihyfo2"]
    assert reasons.str.contains("loss on each class").all()
    assert sample_wise.loc[reasons.index, "relative_forgetting_quality"].isna().all()
    answered = sample_wise.drop(index=reasons.index)
    assert {*available_methods()} - {"dihyfo1", "dihyfo2"} <= {*answered.index}
    assert answered["acc_forget_test"].isna().all()  # no test sample was trained on
    assert answered["acc_forget_train"].notna().all() and answered["forgot"].notna().all()
    assert answered["relative_forgetting_quality"].between(0, 1.5).all()
    # retrained models keep recognising most of the samples, as unseen ones
    assert answered.loc["oracle", "acc_forget_train"] > 70
    # the same 140 digits for every method and the SPM
    scenarios = json.loads(
        only_version(project / "data/03_primary/forget_scenarios.json").read_text()
    )
    (planned,) = [s for s in scenarios if s["name"] == "random10"]
    assert len(planned["sample_ids"]) == 140
    deleted = SafetensorsDataset(
        filepath=str(
            only_version(project / "data/07_model_output/spm_unlearned_memory.safetensors")
        )
    ).load()["alive"]
    assert (~deleted[5, 0]).nonzero().flatten().tolist() == planned["sample_ids"]


def test_the_leave_out_check_is_skipped_by_default(project):
    table = pd.read_parquet(only_version(project / "data/08_reporting/leave_out.parquet"))
    assert table.empty and "relative_forgetting_quality" in table.columns


def test_oracle_spread_describes_the_retrained_distribution(project):
    runs = read_runs(project)
    retrained = runs[runs["method"] == "oracle"].groupby("forget_classes")["acc_retain_test"]
    spread = pd.read_parquet(only_version(project / "data/08_reporting/oracle_spread.parquet"))
    assert spread["forget_classes"].tolist() == ["0", "1", "2", "3", "1+3", "random10"]
    assert (spread["retrained"] == 6).all()
    for row in spread.to_dict("records"):
        assert row["retrained_mean"] == pytest.approx(retrained.mean()[row["forget_classes"]])
        assert row["retrained_min"] <= row["retrained_low_95"] <= row["retrained_high_95"]
        assert row["retrained_high_95"] <= row["retrained_max"]
        z = row["oracle_minus_retrained"] / row["retrained_sd"]
        assert row["oracle_z"] == pytest.approx(z)
        assert row["oracle_outside"] == (abs(z) > 3.0)  # evaluation.oracle_max_z
    assert only_version(project / "data/08_reporting/oracle_spread.png").exists()
    # The original with the forgotten class's outputs ignored, recomputed with plain torch.
    original = SafetensorsDataset(
        filepath=str(only_version(project / "data/06_models/original_weights.safetensors"))
    ).load()
    test = SafetensorsDataset(
        filepath=str(only_version(project / "data/03_primary/test_split.safetensors"))
    ).load()
    net = load_flat_into(build_target((1, 28, 28), 4, (10,)), original["params"])
    with torch.no_grad():
        logits = net(test["images"])
    for row in spread.to_dict("records"):
        name = row["forget_classes"]  # a sample-wise scenario forgets no class
        k = torch.tensor([] if name.startswith("random") else [int(c) for c in name.split("+")])
        keep = ~torch.isin(test["labels"], k.long())
        answer = logits[keep].index_fill(1, k.long(), float("-inf")).argmax(1)
        expected = (answer == test["labels"][keep]).float().mean().item() * 100
        assert row["masked_original_retain_test"] == pytest.approx(expected, abs=1e-3)
    # Retraining's own pass rate: no replica misses a margin exactly when every scenario's
    # lowest retrained accuracy is within it.
    passing = pd.read_parquet(only_version(project / "data/08_reporting/retrain_pass.parquet"))
    assert passing["margin"].tolist() == [1.0, 2.0, 3.0]
    assert (passing["replicas"] == 6).all()
    for row in passing.to_dict("records"):
        within = spread["retrained_min"] >= spread["oracle_retain_test"] - row["margin"]
        assert (row["misses"] == 0) == within.all()
        lowest = (spread["retrained_min"] - spread["oracle_retain_test"]).min()
        assert min(row["worst_gap"], 0.0) == pytest.approx(lowest, abs=1e-3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"model_zoo": {"regimes": {"retain": {"classes": [7]}}}},
            r"\[7\], outside the dataset's classes 0..3",
        ),
        ({"unlearning": {"forget_classes": [9]}}, r"\[9\], not classes of the prepared dataset"),
        ({"unlearning": {"forget_classes": []}}, "unlearning.forget_classes is empty"),
        (
            {"unlearning": {"forget_class_sets": ["1+9"]}},
            r"forget_class_sets contains \[9\], not classes of the prepared dataset",
        ),
        (
            {"unlearning": {"forget_class_sets": ["0+1+2+3"]}},
            r"forget_class_sets has 0\+1\+2\+3, every class of the prepared dataset",
        ),
        (
            {"unlearning": {"forget_classes": [0, 1]}, "evaluation": {"leave_out_classes": [3]}},
            r"evaluation.leave_out_classes has \[3\], which unlearning.forget_classes",
        ),
        # the command-line spelling of a list, --params "unlearning.forget_classes=[1 9]"
        ({"unlearning": {"forget_classes": ["1 9"]}}, r"\[9\], not classes of the prepared"),
    ],
)
def test_bad_class_requests_fail_before_training(project, params, message):
    before = trained_outputs(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(ValueError, match=message):
            run_unlearn(project, params)
    assert trained_outputs(project) == before


def test_spm_deletes_from_a_new_memory_and_is_evaluated_against_its_oracle(project):
    results = pd.read_csv(project / "data/08_reporting/results.csv", dtype={"forget_classes": str})
    spm = results[results["method"] == "spm"].set_index("forget_classes")
    assert (spm["runs"] == 3).all() and (spm["retrained_runs"] == 6).all()
    assert sorted(spm.index) == ["0", "1", "1+3", "2", "3", "random10"]
    assert (spm.loc[["0", "1", "2", "3", "1+3"], "acc_forget_test"] == 0).all()
    assert spm.loc["random10", "acc_forget_train"] > 0  # sample-wise: D_f are still predictable
    assert (spm["speedup"] > 1).all()
    memory = SafetensorsDataset(
        filepath=str(only_version(project / "data/06_models/spm_memory.safetensors"))
    ).load()
    assert memory["alive"].all() and memory["labels"].shape == (3, 4 * 350)  # M = 3 SPMs
    deleted = SafetensorsDataset(
        filepath=str(
            only_version(project / "data/07_model_output/spm_unlearned_memory.safetensors")
        )
    ).load()
    assert deleted["alive"].shape == (6, 3, 1400)
    assert (~deleted["alive"][:4]).sum(2).flatten().tolist() == [350] * 12
    assert ((~deleted["alive"][4]).sum(1) == 700).all()  # 1+3: both classes
    assert ((~deleted["alive"][5]).sum(1) == 140).all()
    comparison = pd.read_parquet(only_version(project / "data/08_reporting/spm_comparison.parquet"))
    assert comparison["model"].tolist() == ["spm_c", "spm_r", "classifier"]


def test_spm_agreement_is_set_against_the_oracle_retrained_again(project):
    results = pd.read_csv(project / "data/08_reporting/results.csv", dtype={"forget_classes": str})
    spm = results[results["method"] == "spm"].set_index("forget_classes")
    spread = pd.read_parquet(only_version(project / "data/08_reporting/spm_oracle_spread.parquet"))
    assert spread["forget_classes"].tolist() == ["0", "1", "2", "3", "1+3", "random10"]
    assert (spread["replicas"] == 6).all()
    for row in spread.to_dict("records"):
        assert row["method_agreement"] == pytest.approx(
            spm.loc[row["forget_classes"], "agreement_oracle"], abs=1e-3
        )
        assert 0 <= row["retrained_agreement_mean"] <= 100
        assert row["method_minus_retrained"] == pytest.approx(
            row["method_agreement"] - row["retrained_agreement_mean"]
        )
    replicas = SafetensorsDataset(
        filepath=str(
            only_version(project / "data/06_models/spm_oracle_replica_weights.safetensors")
        )
    ).load()
    oracles = SafetensorsDataset(
        filepath=str(only_version(project / "data/06_models/spm_oracle_weights.safetensors"))
    ).load()
    assert replicas["params"].shape == (6, 6, oracles["params"].shape[1])
    assert not torch.equal(replicas["params"][:, 0], oracles["params"])  # other seeds
    assert only_version(project / "data/08_reporting/spm_oracle_spread.png").exists()


def test_unlearning_run_picks_the_methods_that_run_and_are_evaluated(project, tmp_path):
    """Re-run unlearning and evaluation on a copy of the finished project with one method: the
    same seeds give the same rows."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(copy)
        asked = {"unlearning": {"run": ["ssd"]}, "evaluation": {"leave_out_classes": [1]}}
        run_unlearn(copy, asked, ("unlearning", "evaluation"))
    results = pd.read_csv(copy / "data/08_reporting/results.csv")
    assert set(results["method"]) == {"original", "oracle", "ssd", *SPM_ROWS}
    versions = sorted((copy / "data/08_reporting/leave_out.parquet").iterdir())
    (left_out,) = pd.read_parquet(versions[-1] / "leave_out.parquet").to_dict("records")
    assert left_out["variant"] == "dihyfo2" and left_out["forget_classes"] == "1"
    assert 0 <= left_out["relative_forgetting_quality"] and 0 < left_out["acc_retain_test"]
    newest = sorted((copy / "data/07_model_output/ft_unlearned_weights.safetensors").iterdir())
    skipped = SafetensorsDataset(filepath=str(newest[-1] / "ft_unlearned_weights.safetensors"))
    assert skipped.load()["params"].shape == (0, 3, 7894)
    before, after = read_runs(project), read_runs(copy)
    kept = before[before["method"].isin(set(after["method"]))].reset_index(drop=True)
    timed = ["seconds", "speedup"]  # wall clock
    pd.testing.assert_frame_equal(
        kept.drop(columns=timed), after.reset_index(drop=True).drop(columns=timed)
    )


def manifests(project_path: Path) -> list[dict]:
    return [
        json.loads(p.read_text()) for p in sorted((project_path / "data/09_runs").glob("*.json"))
    ]


def test_a_complete_run_records_its_lineage(project):
    (run,) = manifests(project)
    assert run["complete"] and run["env"] == "test" and run["inputs"] == {}
    assert {"original_weights", "train_split", "results_table"} <= set(run["outputs"])
    version = only_version(project / "data/06_models/original_weights.safetensors").parent.name
    assert run["save_version"] == version


def test_classes_4_to_7_after_a_0_to_3_run_are_refused_never_mixed(project, tmp_path):
    """Re-preparing the data with other classes, then rerunning unlearning and evaluation,
    would score weights trained on 0-3 against splits of 4-7: refused, naming the fix; with the
    earlier run named as lineage, the rerun reads that run's splits, not the new ones."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    first = manifests(copy)[0]["save_version"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(copy)
        run_unlearn(copy, {"data_preparation": {"classes": [4, 5, 6, 7]}}, ("data_preparation",))
        prepared = manifests(copy)[-1]
        assert prepared["pipelines"] == ["data_preparation"]
        before = written_files(copy)
        with pytest.raises(ValueError, match=r"original_weights.* not in the lineage of run "):
            run_unlearn(copy, {"unlearning": {"run": ["ssd"]}}, ("unlearning", "evaluation"))
        assert written_files(copy) == before
        run_unlearn(
            copy, {"lineage": first, "unlearning": {"run": ["ssd"]}}, ("unlearning", "evaluation")
        )
    rerun = manifests(copy)[-1]
    assert rerun["inputs"]["train_split"] == first != prepared["save_version"]
    results = pd.read_csv(copy / "data/08_reporting/results.csv")
    assert set(results["method"]) == {"original", "oracle", "ssd", *SPM_ROWS}


def rerun_until_it_saves(copy: Path, first: str) -> subprocess.Popen:
    """``kedro run --pipelines unlearning,evaluation`` (ssd) in ``copy``, returned once it has
    saved its first unlearned weights (a version other than ``first``)."""
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    kedro = str(Path(sys.executable).with_name("kedro"))
    command = [kedro, "run", "--pipelines", "unlearning,evaluation", "--env", "test"]
    process = subprocess.Popen(
        [*command, "--params", "unlearning.run=[ssd]"],
        cwd=copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not [v for v in copy.glob("data/07_model_output/*/*") if v.name != first]:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    return process


def test_after_an_interrupted_rerun_the_next_reads_the_last_complete_run(project, tmp_path):
    """An interrupted run removes the versions it saved and writes no manifest: the next
    partial rerun reads the last complete run's weights."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    first = manifests(copy)[0]["save_version"]
    process = rerun_until_it_saves(copy, first)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    # the interrupted run removed what it saved: a user, kedro-viz or a later run finds only
    # the complete run's versions
    assert {v.name for v in copy.glob("data/0*/*/*")} == {first}
    assert len(manifests(copy)) == 1
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(copy)
        run_unlearn(copy, {"unlearning": {"run": ["ssd"]}}, ("evaluation",))
    rerun = manifests(copy)[-1]
    assert rerun["inputs"]["ssd_unlearned_weights"] == first


def test_after_a_killed_run_the_next_sweeps_its_versions_and_marks_it_killed(project, tmp_path):
    """SIGKILL runs no handler: its versions and its RUNNING MLflow run are cleared by the
    next run of the project."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    first = manifests(copy)[0]["save_version"]
    process = rerun_until_it_saves(copy, first)
    process.kill()
    process.wait(timeout=60)
    assert {v.name for v in copy.glob("data/0*/*/*")} != {first}
    done = run_kedro(copy, "run", "--pipelines", "evaluation", "--env", "test")
    assert done.returncode == 0, done.stderr[-2000:]
    new = manifests(copy)[-1]["save_version"]
    assert {v.name for v in copy.glob("data/0*/*/*")} == {first, new}
    client = mlflow.MlflowClient(f"sqlite:///{copy}/mlflow-test.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    statuses = [run.info.status for run in client.search_runs(experiments)]
    assert statuses.count("KILLED") == 1 and "RUNNING" not in statuses


def test_evaluation_alone_scores_only_the_methods_unlearning_run_names(project, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(copy)
        run_unlearn(copy, {"unlearning": {"run": ["ssd ft"]}}, ("evaluation",))
    results = pd.read_csv(copy / "data/08_reporting/results.csv")
    assert set(results["method"]) == {"original", "oracle", "ssd", "ft", *SPM_ROWS}
    distances = pd.read_parquet(only_newest(copy / "data/08_reporting/zoo_distance.parquet"))
    assert set(distances["method"]) <= {"ssd", "ft", "oracle", "retrained"}


def only_newest(path: Path) -> Path:
    return sorted(path.iterdir())[-1] / path.name


@pytest.fixture
def fault_copy(project, tmp_path):
    """A copy of the finished project to break, the working directory while the test runs."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(copy)
        yield copy


def refused(
    copy: Path, message: str, pipelines=("evaluation",), params=None, **session_run
) -> None:
    """The run is refused with ``message`` and writes nothing under data/."""
    before = {p: p.stat().st_mtime_ns for p in written_files(copy)}
    bootstrap_project(copy)
    with pytest.raises(ValueError, match=message):
        with KedroSession.create(project_path=copy, env="test", runtime_params=params) as session:
            session.run(pipeline_names=list(pipelines), **session_run)
    assert {p: p.stat().st_mtime_ns for p in written_files(copy)} == before
    assert mlflow.active_run() is None


def test_without_manifests_a_partial_run_is_refused_naming_the_stage_to_run(fault_copy):
    """It used to warn once and score the newest files it found, whatever made them."""
    shutil.rmtree(fault_copy / "data/09_runs")
    refused(fault_copy, r"no complete run of environment 'test' made them .*--pipelines data_prep")
    refused(fault_copy, r"kedro run --pipelines data_preparation", pipelines=("model_zoo",))


def test_a_truncated_or_foreign_manifest_is_named_with_the_fix(fault_copy):
    (manifest,) = Path("data/09_runs").glob("*.json")
    manifest.write_text(manifest.read_text()[:40])
    refused(fault_copy, rf"The run manifest {manifest} cannot be read .*\(mv {manifest} ")
    manifest.write_text("[1, 2]")
    refused(fault_copy, rf"{manifest} is not a run manifest of this project")


def test_a_deleted_version_or_a_bad_load_version_is_named(fault_copy):
    (folder,) = (fault_copy / "data/06_models/original_weights.safetensors").iterdir()
    shutil.rmtree(folder)
    refused(fault_copy, rf"original_weights version {folder.name} \(from run .* is gone")
    refused(
        fault_copy,
        r"original_weights version 2020-01-01T00.00.00.000Z \(from --load-versions\) is gone",
        load_versions={"original_weights": "2020-01-01T00.00.00.000Z"},
    )
    refused(
        fault_copy,
        r"--load-versions names 'orignal_weights'",
        load_versions={"orignal_weights": "x"},
    )


def test_a_partial_run_that_remakes_an_upstream_dataset_is_refused(fault_copy):
    """Re-preparing the data while reading the saved weights would mix two lineages (it used to
    be caught in evaluate, after 17 files)."""
    refused(
        fault_copy,
        r"This run re-makes .* but reads .* from run .*\(add model_zoo",
        pipelines=("data_preparation", "unlearning", "evaluation"),
    )


def test_a_parameter_the_run_would_not_follow_is_refused(fault_copy):
    """A value for a stage the run does not run used to be ignored: the evaluation scored the
    saved runs, made with the saved value, and MLflow recorded the new one beside them."""
    refused(
        fault_copy,
        r"data_preparation.subset is 100 in this run, but .* was made with None: .*"
        r"--params data_preparation.subset=null",
        params={"data_preparation": {"subset": 100}},
    )
    refused(
        fault_copy,
        r"unlearning.methods.ft.lr is 0.5 in this run, but ft_unlearned_weights \(run .*\) was "
        r"made with 0.05",
        params={"unlearning": {"methods": {"ft": {"lr": 0.5}}}},
    )
    refused(
        fault_copy,
        r"--params unlearning.methods.ft.lr is read only by unlearning, which this run does not",
        pipelines=("data_preparation",),
        params={"unlearning": {"methods": {"ft": {"lr": 0.5}}}},
    )


def test_results_made_with_other_parameters_are_evaluated_only_with_them(fault_copy):
    """After unlearning with another ssd.alpha, evaluating alone needs that alpha again."""
    ssd = {"run": ["ssd"], "methods": {"ssd": {"alpha": 5.0}}}
    run_unlearn(fault_copy, {"unlearning": ssd}, ("unlearning", "evaluation"))
    refused(
        fault_copy,
        r"unlearning.methods.ssd.alpha is 10.0 in this run, but ssd_unlearned_weights .* with "
        r"5.0.*\(--params unlearning.methods.ssd.alpha=5.0\)",
        params={"unlearning": {"run": ["ssd"]}},
    )
    run_unlearn(fault_copy, {"unlearning": ssd}, ("evaluation",))
    assert manifests(fault_copy)[-1]["parameters"]["unlearning"]["methods"]["ssd"]["alpha"] == 5


def test_a_failed_run_publishes_nothing_and_leaves_no_versions(fault_copy, monkeypatch):
    """A full disk in the evaluation used to overwrite results.csv and results.md with the
    failed run's verdicts and leave a truncated plot as the newest version."""
    from hyperforget.evaluation import spread

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spread, "oracle_spread", disk_full)  # after results.csv is saved
    reporting = fault_copy / "data/08_reporting"
    published = {name: (reporting / name).read_bytes() for name in ("results.csv", "results.md")}
    before = written_files(fault_copy)
    with pytest.raises(OSError, match="No space left"):
        run_unlearn(fault_copy, {"unlearning": {"run": ["ssd"]}}, ("unlearning", "evaluation"))
    assert {name: (reporting / name).read_bytes() for name in published} == published
    assert written_files(fault_copy) == before


def test_two_runs_at_once_each_report_only_their_own_rows(project, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    kedro = str(Path(sys.executable).with_name("kedro"))
    runs = {
        method: subprocess.Popen(
            [
                kedro,
                "run",
                "--pipelines",
                "unlearning,evaluation",
                "--env",
                "test",
                "--params",
                f"unlearning.run=[{method}]",
            ],
            cwd=copy,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for method in ("ssd", "ft")
    }
    for method, process in runs.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, (method, stderr[-2000:])
    new = manifests(copy)[1:]
    assert len(new) == 2
    for run in new:
        table = pd.read_parquet(
            copy / "data/08_reporting/results.parquet" / run["save_version"] / "results.parquet"
        )
        methods = set(table["method"]) - {"original", "oracle", *SPM_ROWS}
        assert len(methods) == 1, methods
        assert run["inputs"]["original_weights"] == manifests(project)[0]["save_version"]
    assert {
        m
        for run in new
        for m in pd.read_parquet(
            copy / "data/08_reporting/results.parquet" / run["save_version"] / "results.parquet"
        )["method"]
    } >= {"ssd", "ft"}


def test_spm_forgets_chosen_samples_and_refuses_unknown_ids(project, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    memory_versions = list((copy / "data/06_models/spm_memory.safetensors").iterdir())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(copy)
        before = trained_outputs(copy)
        with pytest.raises(ValueError, match=r"contains \[99999\], not ids of the training split"):
            run_unlearn(copy, {"semi_parametric": {"forget_sample_ids": [3, 99999]}})
        assert trained_outputs(copy) == before
        run_unlearn(
            copy, {"semi_parametric": {"forget_sample_ids": [0, 1, 2]}}, ("semi_parametric",)
        )
    stored = SafetensorsDataset(filepath=str(memory_versions[0] / "spm_memory.safetensors"))
    assert stored.load()["alive"].all()  # the first memory is never changed
    newest = sorted((copy / "data/07_model_output/spm_unlearned_memory.safetensors").iterdir())
    deleted = SafetensorsDataset(filepath=str(newest[-1] / "spm_unlearned_memory.safetensors"))
    alive = deleted.load()["alive"]
    assert alive.shape == (7, 3, 1400)  # scenarios x SPM runs x memory
    for run in range(3):
        assert (~alive[6, run]).nonzero().flatten().tolist() == [0, 1, 2]


def test_unknown_method_fails_before_anything_is_written(project):
    before = written_files(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(ValueError, match=r"'sdd' in unlearning.run; available: dihyfo1, "):
            run_unlearn(project, {"unlearning": {"run": ["ssd", "sdd"]}})
    assert written_files(project) == before


@pytest.mark.parametrize(
    ("unlearning", "message"),
    [
        ({"forget_classes": [2]}, r"forget_classes is \[2\] and forget_class_sets \['1\+3'\], "),
        ({"forget_class_sets": ["0+2"]}, r"forget_class_sets \['0\+2'\], but the saved forget "),
        ({"sample_fractions": [0.2]}, r"sample_fractions is \[0.2\] in this run, but .*\[0.1\]"),
    ],
)
def test_a_partial_rerun_refuses_forget_classes_it_cannot_honour(project, unlearning, message):
    """The scenarios are planned in data_preparation: a rerun of unlearning,evaluation with
    other forget_classes or class sets would silently run the saved ones."""
    before = written_files(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(ValueError, match=message):
            run_unlearn(project, {"unlearning": unlearning}, pipelines=("unlearning", "evaluation"))
    assert written_files(project) == before


def test_bad_retain_margins_fail_before_anything_is_written(project):
    before = written_files(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(ValueError, match=r"evaluation.retain_margins must be >= 0.0; got"):
            run_unlearn(project, {"evaluation": {"retain_margins": [-2]}})
    assert written_files(project) == before


def test_bad_verdict_bar_fails_before_anything_is_written(project):
    before = written_files(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(ValueError, match=r"evaluation.forgot_tolerance must be >= 0.0"):
            run_unlearn(project, {"evaluation": {"forgot_tolerance": -2}})
        with pytest.raises(ValueError, match=r"evaluation.oracle_max_z must be a number, got 'f"):
            run_unlearn(project, {"evaluation": {"oracle_max_z": "far"}})
    assert written_files(project) == before


def test_bad_class_fails_before_anything_is_written(project):
    before = written_files(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(ValueError, match=r"\[11\], outside the valid range 0..9"):
            run_unlearn(project, {"data_preparation": {"classes": [11]}})
    assert written_files(project) == before


def test_a_fresh_rerun_with_the_same_seeds_gives_the_same_tables(project, tmp_path):
    """The whole pipeline again in a new copy of the project: every trained tensor and both
    results tables are the same, apart from wall-clock seconds and what is computed from them."""
    rerun = copy_project(tmp_path / "rerun")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(rerun)
        run_unlearn(rerun)
    for file in sorted((project / "data").rglob("*.safetensors")):
        if file.is_file():
            relative = file.relative_to(project).parts
            twin = rerun.joinpath(*relative[:-2])  # data/.../<name>/<version>/<name>
            first = SafetensorsDataset(filepath=str(file)).load()
            second = SafetensorsDataset(filepath=str(only_version(twin))).load()
            for key, tensor in first.items():
                if key not in ("__metadata__", "seconds"):
                    same = torch.equal(tensor, second[key]) or (
                        tensor.is_floating_point()
                        and torch.allclose(tensor, second[key], rtol=0, atol=0, equal_nan=True)
                    )
                    assert same, (file, key)
            if "seconds" not in first:  # nothing timed inside: the very same bytes
                assert file.read_bytes() == only_version(twin).read_bytes(), file
    pd.testing.assert_frame_equal(
        read_runs(project).drop(columns=["seconds", "speedup"]),
        read_runs(rerun).drop(columns=["seconds", "speedup"]),
    )
    first, second = (
        pd.read_csv(p / "data/08_reporting/results.csv", dtype={"forget_classes": str})
        for p in (project, rerun)
    )
    untimed = [c for c in first.columns if not c.startswith(("seconds", "speedup"))]
    pd.testing.assert_frame_equal(first[untimed], second[untimed])


def test_bench_dihyfo_reads_the_run_and_the_hypernetworks_training_seconds(project, capsys):
    from hyperforget.bench.cli import main

    main(["dihyfo", "--project", str(project)])
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("dihyfo")}
    assert set(rows) == {"dihyfo1", "dihyfo2"}
    header = next(line.split() for line in lines if line.startswith("variant"))
    for row in rows.values():
        # "one class" is two words; the columns after it line up with the header's
        train_s = float(row[header.index("train_s") + 1])
        assert train_s > 0  # the EMA weight file carries its training seconds
    folder = project / "data/08_reporting/zoo_distance.parquet"
    distances = pd.read_parquet(sorted(folder.iterdir())[-1] / folder.name)
    assert {"oracle", "dihyfo1", "dihyfo2"} <= set(distances["method"])
    assert (distances["nearest_zoo_distance"] >= 0).all()
    assert np.isfinite(distances["nearest_zoo_distance"]).all()
    # a retrained network is no zoo network, and no further from the zoo than its own norm
    # (the test env's 10-step DiHyFo-2 draws near-zero networks: relative distances of ~100)
    retrained = distances.loc[distances["method"] == "oracle", "nearest_zoo_distance"]
    assert retrained.between(0.05, 2.0).all()


def test_the_spm_is_scored_against_its_own_retraining(project):
    results = pd.read_csv(project / "data/08_reporting/results.csv", dtype={"forget_classes": str})
    spm_oracle = results[results["method"] == "spm_oracle"]
    assert spm_oracle["relative_forgetting_quality"].tolist() == pytest.approx([1.0] * 6)
    spm = results[results["method"] == "spm"]
    assert spm["relative_forgetting_quality"].notna().all()


@pytest.fixture(scope="module")
def two_runs(project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the finished project with a second MLflow run, started as a user does (a
    kedro process): the evaluation alone, its methods written as a command-line list."""
    copy = tmp_path_factory.mktemp("two_runs") / "project"
    shutil.copytree(project, copy)
    client = tracking(copy)
    first, *others = runs_of(client, "ASC")  # others: reruns that tests made in this process
    for run in others:
        client.delete_run(run.info.run_id)
    done = run_kedro(
        copy,
        *("run", "--pipelines", "evaluation", "--env", "test", "--params"),
        f"unlearning.run=[{' '.join(target_methods(copy))}]",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return copy


def tracking(project_path: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{project_path / 'mlflow-test.db'}")


def runs_of(client: mlflow.MlflowClient, order: str = "DESC") -> list:
    """The experiment's active runs, by start time."""
    experiment = client.get_experiment_by_name("hyperforget").experiment_id
    return client.search_runs([experiment], order_by=[f"attributes.start_time {order}"])


def target_methods(project_path: Path) -> list[str]:
    """The unlearning methods of the run's results, in their order."""
    methods = pd.read_csv(project_path / "data/08_reporting/results.csv")["method"].unique()
    return [m for m in methods if m not in {"original", "oracle", *SPM_ROWS}]


def test_a_command_line_list_reaches_mlflow_as_its_items(two_runs):
    newest = runs_of(tracking(two_runs))[0]
    assert newest.data.params["unlearning.run"] == str(target_methods(two_runs))


def test_mlflow_compares_two_runs_method_by_method_in_a_browser(two_runs, tmp_path):
    """The README's clicks: Model training, Experiments, hyperforget, tick the runs, Compare.
    The page shows each method's summary metrics with both runs' values, and the files the
    runs share."""
    scores = [r.data.metrics["bad_teacher.final_score"] for r in runs_of(tracking(two_runs))]
    port = free_port()
    mlflow_ui = str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow_ui, "ui", "--backend-store-uri", "sqlite:///mlflow-test.db"]
    with serving([*command, "--port", str(port)], two_runs, port) as url, chromium_page() as page:
        page.goto(url, wait_until="load")
        page.get_by_text("Model training", exact=True).click()
        page.get_by_role("link", name="Experiments").first.click()
        page.get_by_role("link", name="hyperforget").click()
        page.get_by_role("link", name="evaluation").wait_for()
        page.get_by_role("checkbox").first.check()  # every run
        page.get_by_role("button", name="Compare").click()
        page.get_by_text("Comparing 2 Runs").wait_for()
        page.get_by_text("bad_teacher.final_score").wait_for()
        page.get_by_text("results.csv", exact=True).wait_for()  # the artifacts load after
        text = page.inner_text("body")
        page.get_by_role("button", name="Close").click()  # the assistant's panel covers files
        page.get_by_text("results.csv", exact=True).click()  # both runs' tables, side by side
        last = target_methods(two_runs)[-1]
        page.get_by_text(last, exact=True).nth(1).wait_for()  # the second run's table drawn
        table = page.inner_text("body").splitlines()
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    # the metrics table (it draws its first rows): the first method's summary, both runs' values
    shown = _values_after(text, "bad_teacher.final_score", 2)
    assert sorted(shown) == sorted(f"{round(score, 3):g}" for score in scores)
    assert "bad_teacher.relative_f" in text and "bad_teacher.retain_test" in text
    assert text.split("\nArtifacts\n")[1].startswith("final_score.png\nresults.csv\n")
    for method in target_methods(two_runs):
        rows = [line for line in table if line.startswith(f"{method}\t")]
        assert len(rows) >= 2, method  # its rows in each run's results.csv


def _values_after(text: str, metric: str, runs: int) -> list[str]:
    """The page's metrics table lists the names, then each row's values, run by run."""
    lines = text.split("\nMetrics\n")[1].splitlines()
    names = lines[1 : lines.index(next(v for v in lines[1:] if v[:1].isdigit() or v == "NaN"))]
    row = names.index(metric)
    values = lines[1 + len(names) :]
    return values[row * runs : (row + 1) * runs]


def test_a_weight_files_preview_shows_its_tensors_in_kedro_viz(two_runs, tmp_path):
    """kedro viz build --include-previews, opened in a browser: a weight dataset's panel lists
    its tensors, each with its dtype and shape."""
    done = run_kedro(two_runs, "viz", "build", "--include-previews")
    assert done.returncode == 0, done.stderr[-2000:]
    weights = only_version(two_runs / "data/06_models/original_weights.safetensors")
    params = SafetensorsDataset(filepath=str(weights)).load()
    port = free_port()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with serving(server, two_runs / "build", port) as url, chromium_page() as page:
        page.goto(url, wait_until="load")
        page.get_by_text("original_weights", exact=True).first.click()
        panel = page.locator(".pipeline-metadata")
        panel.get_by_text('"tensors"').wait_for()
        text = panel.inner_text()
        page.screenshot(path=str(tmp_path / "preview.png"))
    assert f'"params":"F32 [{params["params"].numel()}]"' in text
    assert '"seed":"I64 [1]"' in text


def test_results_notebook_runs_on_the_newest_outputs(two_runs, monkeypatch):
    """notebooks/results.ipynb executed against the test run (and the second, evaluation-only
    run, so there are two MLflow runs to compare): every cell runs, the table has every method."""
    import nbformat
    from nbclient import NotebookClient

    copy = two_runs
    (copy / "notebooks").mkdir()
    shutil.copy(Path(__file__).parents[1] / "notebooks" / "results.ipynb", copy / "notebooks")
    monkeypatch.setenv("KEDRO_ENV", "test")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    notebook = nbformat.read(copy / "notebooks" / "results.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(copy / "notebooks")}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "ltu_no_harmonisation" in html and "final_score" in html
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # both figures
    # the last cell: the two runs of the project's database, method by method, no gap (the
    # kernel starts in notebooks/, where sqlite:///mlflow-test.db names another database)
    comparison = compare_last_runs(project_tracking_uri("sqlite:///mlflow-test.db", copy))
    results = pd.read_csv(copy / "data" / "08_reporting" / "results.csv")
    assert set(comparison.index) == set(results["method"])
    assert comparison.notna().all().all() and len(comparison.columns) == 6
    last = "".join(o.get("data", {}).get("text/html", "") for o in notebook.cells[-1].outputs)
    for run in comparison.columns.get_level_values("run").unique():
        assert run in last
