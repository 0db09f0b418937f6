import json

import pandas as pd
import pytest
import torch

from hyperforget.core import compute
from hyperforget.core.scenario import ForgetScenario
from hyperforget.core.targets import build_target
from hyperforget.zoo.build import Zoo, build_zoo, diverged
from hyperforget.zoo.plan import RunSpec, data_indices, initial_params, plan_runs
from hyperforget.zoo.references import (
    forgotten,
    oracle_spec,
    reference_row,
    replica_seeds_of,
    train_oracle_replicas,
    train_reference_models,
)
from hyperforget.zoo.runs import train_runs
from hyperforget.zoo.summary import summarise_references
from hyperforget.zoo.training import AscentConfig, FromLearn
from tests.recipes import sgd


def build():
    return build_target((1, 4, 4), 3, (5,))


@pytest.fixture
def splits():
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(90, 1, 4, 4, generator=generator), torch.arange(3).repeat(30)
    val = torch.randn(30, 1, 4, 4, generator=generator), torch.arange(3).repeat(10)
    # make the classes learnable: shift each class's mean
    for split_images, split_labels in (train, val):
        split_images.add_(split_labels.view(-1, 1, 1, 1).float())
    return train, val


REGIMES = {"learn": {"runs": 2}, "retain": {"runs_per_class": 1}, "forget": {"runs_per_class": 1}}


def test_plan_gives_distinct_seeds_and_every_class():
    specs = plan_runs(REGIMES, num_classes=3, base_seed=100)
    assert [s.regime for s in specs] == ["learn"] * 2 + ["retain"] * 3 + ["forget"] * 3
    assert [s.forget_class for s in specs[2:5]] == [0, 1, 2]
    assert len({s.seed for s in specs}) == len(specs) == 8


@pytest.mark.parametrize(
    ("regimes", "message"),
    [
        (
            {"retain": {"runs_per_class": 1, "classes": [3]}},
            r"\[3\], outside the dataset's classes 0..2",
        ),
        ({"learn": {"runs": 0}}, "learn.runs is 0"),
        ({"relearn": {"runs_per_class": 1}}, "Unknown zoo regimes"),
        ({"forget": {"runs_per_class": 1}}, "forget regime starts from learn runs"),
        ({"refit": {"runs_per_class": 1}}, "refit regime starts from learn runs"),
        ({}, "defines no runs"),
    ],
)
def test_bad_regimes_fail_before_training(regimes, message):
    with pytest.raises(ValueError, match=message):
        plan_runs(regimes, num_classes=3, base_seed=0)


def test_diverged_runs_are_detected():
    params = torch.zeros(3, 2, 4)
    params[1, 1, 0] = float("nan")
    params[2, 0, 3] = 11.0
    assert diverged(params, max_abs_weight=10.0).tolist() == [False, True, True]


def tiny_zoo(splits, regimes=REGIMES, **sharding) -> Zoo:
    train, val = splits
    return build_zoo(
        build,
        plan_runs(regimes, 3, 0),
        train,
        val,
        3,
        sgd(batch_size=16),
        3,
        {
            "forget": FromLearn(sgd(lr=0.02, batch_size=16), 1, AscentConfig(1.0, 2.0)),
            "refit": FromLearn(sgd(batch_size=16), 1, fresh_head=True),
        },
        checkpoints=3,
        fraction=0.8,
        max_abs_weight=10.0,
        **sharding,
    )


@pytest.mark.parametrize("shards", [2, 3, 8])
def test_a_zoo_cut_into_shards_has_the_weights_of_the_whole_batch(splits, shards):
    """Shards (tasks of a cluster) take the regime's step count, and each run its own batches:
    the same weights whatever the cut, up to float rounding (a batched matmul of another batch
    size rounds differently: about 1e-7 here), and the same table."""
    regimes = {
        "learn": {"runs": 3},
        "retain": {"runs_per_class": 2},
        "forget": {"runs_per_class": 1},
        "refit": {"runs_per_class": 1},
    }
    whole = tiny_zoo(splits, regimes)
    cut = tiny_zoo(splits, regimes, map_tasks=compute.local_map, shards=shards)
    torch.testing.assert_close(cut.params, whole.params, rtol=0.0, atol=1e-6)
    pd.testing.assert_frame_equal(whole.table, cut.table, rtol=1e-5)


def test_build_zoo_table_describes_each_checkpoint_row(splits):
    train, val = splits
    built = tiny_zoo(splits)
    assert built.params.shape == (8 * 3, 5 * 16 + 5 + 5 * 3 + 3)
    assert len(built.table) == len(built.params)
    expected = ["run_id", "regime", "forget_classes", "seed", "step", "epoch"]
    expected += [f"val_loss_c{k}" for k in range(3)] + [f"val_acc_c{k}" for k in range(3)]
    assert list(built.table.columns) == [*expected, "val_loss", "val_acc"]
    assert built.dropped == {"learn": 0, "retain": 0, "forget": 0}
    # row i of the table is row i of the tensor: re-evaluating a row reproduces its losses
    from hyperforget.core.per_class import evaluate_per_class

    row = 17
    stats = evaluate_per_class(build(), built.params[row], *val, 3)
    torch.testing.assert_close(
        stats.loss,
        torch.tensor(
            built.table.loc[row, ["val_loss_c0", "val_loss_c1", "val_loss_c2"]].to_numpy(
                dtype="float32"
            )
        ),
        rtol=1e-4,
        atol=1e-5,
    )
    forget_rows = built.table[built.table["regime"] == "forget"]
    assert (forget_rows.groupby("run_id")["step"].min() == 0).all()
    assert isinstance(built.table, pd.DataFrame)


def test_reference_models_use_their_own_seeds_and_are_timed(splits):
    train, _ = splits
    refs = train_reference_models(build, train, 3, sgd(batch_size=16), 2, [7, 8, 9, 10])
    assert refs.oracles.shape == (3, refs.original.shape[0])
    assert all(s > 0 for s in refs.oracle_seconds) and refs.original_seconds > 0
    assert refs.seeds == [7, 8, 9, 10]


def test_oracle_replicas_repeat_the_oracle_recipe_with_other_seeds(splits):
    train, _ = splits
    recipe = sgd(batch_size=16)
    refs = train_reference_models(build, train, 3, recipe, 2, [7, 8, 9, 10])
    # replica 0 of each class reuses that class's oracle seed: it must be that oracle again
    seeds = [[8, 20], [9, 21], [10, 22]]
    replicas = train_oracle_replicas(build, train, recipe, 2, seeds)
    assert replicas.shape == (3, 2, refs.oracles.shape[1])
    torch.testing.assert_close(replicas[:, 0], refs.oracles, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(replicas[:, 1], refs.oracles)
    none = train_oracle_replicas(build, train, recipe, 2, [[], [], []])
    assert none.shape == (3, 0, refs.oracles.shape[1])


def test_an_oracle_without_a_class_set_follows_the_class_oracles(splits):
    train, _ = splits
    recipe = sgd(batch_size=16)
    refs = train_reference_models(build, train, 3, recipe, 2, [7, 8, 9, 10, 11], [(0, 2)])
    assert refs.oracles.shape == (4, refs.original.shape[0]) and refs.seeds[-1] == 11
    again = train_oracle_replicas(build, train, recipe, 2, [[11]], [(0, 2)])
    torch.testing.assert_close(again[0, 0], refs.oracles[3], rtol=1e-4, atol=1e-5)
    retain, forget = data_indices(train[1], (0, 2), 1.0, 0)
    assert set(train[1][forget].tolist()) == {0, 2} and 1 in train[1][retain].tolist()
    assert not torch.isin(train[1][retain], torch.tensor([0, 2])).any()
    weights = {"params": refs.oracles, "__metadata__": {"after_classes": json.dumps(["0+2"])}}
    assert reference_row(weights, ForgetScenario.of_classes((0, 2))) == 3
    assert reference_row(weights, ForgetScenario.of_classes((1,))) == 1
    with pytest.raises(ValueError, match=r"no oracle retrained without 1\+2"):
        reference_row(weights, ForgetScenario.of_classes((1, 2)))
    # a scenario's retrained distribution: what it forgets and its seeds in the zoo plan
    plan = {"replica_seeds": [[20], [21], [22]], "after_classes_replica_seeds": {"0+2": [23]}}
    one, pair = ForgetScenario.of_classes((1,)), ForgetScenario.of_classes((0, 2))
    assert (forgotten(one), forgotten(pair)) == (1, (0, 2))
    assert (replica_seeds_of(plan, one), replica_seeds_of(plan, pair)) == ([21], [23])


def test_an_oracle_without_chosen_samples_trains_on_every_other_sample(splits):
    train, _ = splits
    recipe = sgd(batch_size=16)
    samples = ForgetScenario.of_samples("random10", [0, 5, 9])
    assert forgotten(samples) is samples
    spec = oracle_spec(samples, 11)
    assert spec.forget_class is None and spec.forget_samples == (0, 5, 9)
    retain, forget = data_indices(train[1], None, 1.0, 0, spec.forget_samples)
    assert sorted(forget.tolist()) == [0, 5, 9] and len(retain) == len(train[1]) - 3
    assert not torch.isin(retain, forget).any()
    refs = train_reference_models(build, train, 3, recipe, 2, [7, 8, 9, 10, 11], [samples])
    again = train_oracle_replicas(build, train, recipe, 2, [[11]], [samples])
    torch.testing.assert_close(again[0, 0], refs.oracles[3], rtol=1e-4, atol=1e-5)
    # trained without the three samples: not the network trained on everything with that seed
    everything = train_oracle_replicas(build, train, recipe, 2, [[11]], [None])
    assert not torch.allclose(everything[0, 0], again[0, 0])
    weights = {"params": refs.oracles, "__metadata__": {"after_classes": json.dumps(["random10"])}}
    assert reference_row(weights, samples) == 3
    with pytest.raises(ValueError, match=r"no oracle retrained without random1 .*sample_fractions"):
        reference_row(weights, ForgetScenario.of_samples("random1", [0]))
    plan = {"after_classes_replica_seeds": {"random10": [23]}}
    assert replica_seeds_of(plan, samples) == [23]


def test_reference_summary_gives_each_class_accuracy_as_plain_torch_does(splits):
    train, val = splits
    refs = train_reference_models(build, train, 3, sgd(batch_size=16), 2, [7, 8, 9, 10])
    images, labels = val
    table = summarise_references(
        build(), refs.original, 1.0, refs.oracles, [1.0] * 3, images, labels, 3
    )
    module = build()
    for row, params in zip(table.itertuples(), [refs.original, *refs.oracles], strict=True):
        torch.nn.utils.vector_to_parameters(params, module.parameters())
        predicted = module(images).argmax(-1)
        for c in range(3):
            expected = (predicted[labels == c] == c).float().mean().item() * 100
            assert getattr(row, f"test_acc_c{c}") == pytest.approx(expected, abs=1e-4)
        others = [getattr(row, f"test_acc_c{c}") for c in range(3) if c != row.forget_class]
        assert row.test_acc_others == pytest.approx(sum(others) / len(others), abs=1e-4)


def test_min_steps_lifts_a_run_on_small_data_to_that_many_steps(splits):
    (images, labels), _ = splits
    spec = RunSpec(0, "learn", None, 7)
    init, module = initial_params(build, [7]), build()
    few = train_runs(module, [spec], images, labels, sgd(batch_size=16), 2, 2, 1.0, init)
    assert few.steps[-1] == round(2 * 90 / 16)  # 2 epochs of 90 samples
    lifted = train_runs(
        module, [spec], images, labels, sgd(batch_size=16, min_steps=40), 2, 2, 1.0, init
    )
    assert lifted.steps[-1] == 40


def test_a_negative_min_steps_is_refused():
    with pytest.raises(ValueError, match="SGDConfig.min_steps must be >= 0"):
        sgd(min_steps=-1)


def test_refit_runs_start_at_the_learn_final_and_retrain_on_its_features(splits):
    train, val = splits
    regimes = {"learn": {"runs": 1}, "refit": {"runs_per_class": 1, "classes": [2]}}
    built = build_zoo(
        build,
        plan_runs(regimes, 3, 0),
        train,
        val,
        3,
        sgd(batch_size=16),
        3,
        {"refit": FromLearn(sgd(batch_size=16), 3, fresh_head=True)},
        checkpoints=3,
        fraction=0.8,
        max_abs_weight=10.0,
    )
    learn_final, refit_start, refit_after = built.params[2], built.params[3], built.params[4]
    # checkpoint 0 is the learn run's final network: the request "forget 2" starts there
    torch.testing.assert_close(refit_start, learn_final)
    head = 5 * 3 + 3
    # the head is drawn anew (far from the trained one), the features only fine-tuned
    assert (refit_after[-head:] - learn_final[-head:]).abs().max() > 0.2
    assert (refit_after[:-head] - learn_final[:-head]).abs().max() < 0.5
    refit_rows = built.table[built.table["regime"] == "refit"]
    assert refit_rows["val_acc_c2"].iloc[-1] == 0.0  # retrained without class 2
    assert len(built.table) == 6
