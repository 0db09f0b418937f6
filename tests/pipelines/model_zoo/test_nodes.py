import pytest

from hyperforget.pipelines.model_zoo.nodes import plan_zoo
from tests.recipes import SGD

MANIFEST = {"num_classes": 3}
SCENARIOS = [{"name": str(k), "classes": [k]} for k in range(3)]


def zoo_config(**replicas):
    return {
        "seed": 100,
        "reference_seed": 0,
        "checkpoints_per_run": 3,
        "training": {**SGD, "batch_size": 8},
        "zoo_input_dtype": "float32",
        "regimes": {"learn": {"runs": 2}},
        "oracle_replicas": {"seed": 50, **replicas},
    }


def test_retrained_seeds_are_held_out_and_distinct():
    plan = plan_zoo(MANIFEST, zoo_config(), 2, SCENARIOS)
    assert plan["replica_seeds"] == [[50, 53], [51, 54], [52, 55]]


def test_class_sets_get_their_own_oracle_seeds_after_every_class():
    sets = [{"name": "0+2", "classes": [0, 2]}, {"name": "1+2", "classes": [1, 2]}]
    plan = plan_zoo(MANIFEST, zoo_config(), 2, SCENARIOS + sets)
    assert plan["replica_seeds"] == [[50, 53], [51, 54], [52, 55]]  # as without the sets
    assert [s.name for s in plan["after_classes"]] == ["0+2", "1+2"]
    assert plan["after_classes_replica_seeds"] == {"0+2": [56, 58], "1+2": [57, 59]}
    assert plan["reference_seeds"] == [0, 1, 2, 3, 4, 5]  # original, 3 classes, 2 sets


def test_sample_sets_get_their_oracle_seeds_after_the_class_sets():
    sample = {"name": "random10", "classes": [], "kind": "sample", "sample_ids": [0, 3]}
    pair = {"name": "0+2", "classes": [0, 2]}
    plan = plan_zoo(MANIFEST, zoo_config(), 2, [*SCENARIOS, sample, pair])
    assert [s.name for s in plan["after_classes"]] == ["0+2", "random10"]
    # the set's seeds as without the sample set (above), the sample set's after them
    assert plan["after_classes_replica_seeds"] == {"0+2": [56, 57], "random10": [58, 59]}
    assert plan["replica_seeds"] == [[50, 53], [51, 54], [52, 55]]


@pytest.mark.parametrize(
    ("replicas", "runs", "message"),
    [
        ({"seed": 99}, 2, r"replica seeds \[100, 101\] that zoo runs"),
        ({"seed": 2}, 2, r"replica seeds \[2, 3\] that zoo runs or the original/oracles"),
        ({}, 0, "evaluation.oracle_runs must be at least 1"),
    ],
)
def test_bad_retrained_settings_fail_before_training(replicas, runs, message):
    with pytest.raises(ValueError, match=message):
        plan_zoo(MANIFEST, zoo_config(**replicas), runs, SCENARIOS)


def test_an_unknown_zoo_precision_fails_when_the_zoo_is_planned():
    config = {**zoo_config(), "zoo_input_dtype": "float16"}
    with pytest.raises(ValueError, match="SGDConfig.input_dtype must be one of 'float32', "):
        plan_zoo(MANIFEST, config, 2, SCENARIOS)
