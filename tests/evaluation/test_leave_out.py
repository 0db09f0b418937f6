import pytest
import torch

from hyperforget.core.targets import build_target
from hyperforget.evaluation import leave_out
from hyperforget.hypernet.train import ZooSet
from hyperforget.zoo.build import build_zoo
from hyperforget.zoo.plan import plan_runs
from hyperforget.zoo.references import train_oracle_replicas, train_reference_models
from hyperforget.zoo.training import AscentConfig, FromLearn
from tests.recipes import DENOISER, HYPER_TRAIN, sgd


def build():
    return build_target((1, 4, 4), 3, (5,))


def labelled(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.arange(3).repeat(count // 3)
    images = torch.randn(len(labels), 1, 4, 4, generator=generator)
    return images + labels.view(-1, 1, 1, 1).float(), labels


@pytest.fixture
def check():
    generator = torch.Generator().manual_seed(0)
    splits = {name: labelled(n, generator) for name, n in (("train", 90), ("val", 30))}
    splits["test"] = labelled(30, generator)
    regimes = {
        "learn": {"runs": 2},
        "retain": {"runs_per_class": 1},
        "refit": {"runs_per_class": 2},
    }
    built = build_zoo(
        build,
        plan_runs(regimes, 3, 0),
        splits["train"],
        splits["val"],
        3,
        sgd(batch_size=16),
        3,
        {
            "forget": FromLearn(sgd(batch_size=16), 1, AscentConfig(1.0, 2.0)),
            "refit": FromLearn(sgd(batch_size=16), 2, fresh_head=True),
        },
        checkpoints=3,
        fraction=0.8,
        max_abs_weight=10.0,
    )
    retrained = train_oracle_replicas(
        build,
        splits["train"],
        sgd(batch_size=16),
        2,
        [[50 + j * 3 + k for j in range(6)] for k in range(3)],
    )
    return leave_out.LeaveOut(
        build=build,
        num_classes=3,
        zoo_params=built.params,
        zoo_table=built.table,
        original=train_reference_models(
            build, splits["train"], 3, sgd(batch_size=16), 2, [1, 2, 3, 4]
        ).original,
        retrained={str(k): retrained[k] for k in range(3)},
        splits=splits,
        hypernetwork={
            "seed": 0,
            "scale_numerator": 0.538,
            "diffusion": {"num_steps": 100, "beta_start": 1e-4, "beta_end": 0.02},
            "model": {
                **DENOISER,
                "width": 16,
                "depth": 1,
                "heads": 2,
                "chunk_size": 40,
                "num_frequencies": 4,
            },
            "training": {**HYPER_TRAIN, "steps": 5, "batch_size": 4, "log_every": 5},
            "variant_training": {"dihyfo2": {"regimes": ["refit"], "permute": False}},
        },
        sampling={
            "candidates": 1,
            "sampler": "ddim",
            "sampler_steps": 3,
            "forgotten_level": None,
            "stop_accuracy": None,
            "guidance": 0.0,
        },
        evaluation={"seed": 0, "method_runs": 3, "forget_examples": 16},
    )


def test_the_hypernetwork_never_sees_a_run_of_the_left_out_class(check, monkeypatch):
    seen = {}
    original_train = leave_out.train_hypernetwork

    def spy(net, diffusion, train, config, *args, **kwargs):
        seen["runs"] = set(train.run_ids.tolist())
        seen["regimes"] = set(train.regimes)
        return original_train(net, diffusion, train, config, *args, **kwargs)

    monkeypatch.setattr(leave_out, "train_hypernetwork", spy)
    row = leave_out.leave_one_out(check, "dihyfo2", 1, 1)
    table = check.zoo_table
    class_1 = set(table.loc[table["forget_classes"] == "1", "run_id"])
    assert class_1 and not seen["runs"] & class_1
    assert seen["regimes"] == {"refit"}
    assert row["forget_classes"] == "1"
    assert 0.0 <= row["acc_retain_test"] <= 100.0
    assert row["relative_forgetting_quality"] == row["relative_forgetting_quality"]  # not nan


def test_without_class_drops_only_that_class_s_runs(check):
    zoo_set = ZooSet.from_table(check.zoo_params, check.zoo_table, 3)
    kept = leave_out.without_class(zoo_set, check.zoo_table, 2)
    table = check.zoo_table
    assert set(kept.run_ids.tolist()) == set(table.loc[table["forget_classes"] != "2", "run_id"])
    assert len(kept.params) < len(zoo_set.params)


def test_the_table_has_a_row_per_class_and_its_metrics(check, monkeypatch):
    def scored(check, variant, k, index):
        return {
            "forget_classes": str(k),
            "relative_forgetting_quality": 0.5 + k / 10,
            "acc_retain_test": 80.0 + k,
            "acc_retain_test_retrained": 90.0,
            "acc_retain_test_in_retrained_95": False,
            "acc_forget_test": 0.0,
        }

    monkeypatch.setattr(leave_out, "leave_one_out", scored)
    table = leave_out.leave_out_table(check, "dihyfo2", [2, 0], ["0", "1", "2"])
    assert table["forget_classes"].tolist() == ["2", "0"]
    assert (table["variant"] == "dihyfo2").all()
    metrics = leave_out.leave_out_metrics(table)
    assert metrics["leave_out.dihyfo2.c2.relative_forgetting_quality"] == pytest.approx(0.7)
    assert metrics["leave_out.dihyfo2.mean.acc_retain_test"] == pytest.approx(81.0)
    empty = leave_out.leave_out_table(check, "dihyfo2", [], ["0", "1", "2"])
    assert empty.empty and "relative_forgetting_quality" in empty.columns
    assert leave_out.leave_out_metrics(empty) == {}


def test_a_class_without_retrained_models_is_refused(check):
    with pytest.raises(ValueError, match=r"classes \[1\] have no retrained models in this run"):
        leave_out.leave_out_table(check, "dihyfo2", [1], ["0", "2", "1+2"])
