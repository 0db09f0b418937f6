import pytest
import torch

from hyperforget.pipelines.data_preparation import nodes

SPLIT = {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 0}


def test_nodes_chain_to_normalised_splits_and_manifest(tiny_images):
    selected = nodes.select_classes(tiny_images, [0, 2], None, 0, None)
    indices = nodes.split_stratified(selected, SPLIT)
    train, val, test, used = nodes.normalise_splits(selected, indices, None)
    assert train["images"].shape == (12, 1, 4, 4) and val["labels"].shape == (4,)
    assert train["images"].mean().abs() < 0.1  # statistics computed from the train split
    manifest, table, plot, metrics = nodes.describe_splits(selected, indices, used, [0, 2], SPLIT)
    assert manifest["class_ids"] == [0, 2] and manifest["labels_reindexed"]
    assert manifest["counts"]["test"] == [2, 2]
    assert table["train"].tolist() == [6, 6]
    assert metrics["val.count_c1"] == {"value": 2.0, "step": 0}
    assert plot.axes


def test_given_normalisation_is_used(tiny_images):
    indices = nodes.split_stratified(tiny_images, SPLIT)
    train, *_, used = nodes.normalise_splits(tiny_images, indices, {"mean": [0.5], "std": [0.25]})
    assert used == {"mean": [0.5], "std": [0.25]}
    expected = (tiny_images.images[indices["train"]].float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(train["images"], expected)


def test_split_names_must_be_train_val_test(tiny_images):
    with pytest.raises(ValueError, match="must name exactly"):
        nodes.split_stratified(tiny_images, {"fractions": {"train": 0.5, "test": 0.5}, "seed": 0})


def test_a_subset_keeps_each_class_share(tiny_images):
    selected = nodes.select_classes(tiny_images, [0, 2], 10, 0, None)
    assert torch.bincount(selected.labels).tolist() == [5, 5]


def test_the_plan_adds_a_sample_wise_scenario_per_share_of_the_train_split(tiny_images):
    indices = nodes.split_stratified(tiny_images, SPLIT)  # 18 training images
    plan = nodes.plan_forget_scenarios(tiny_images, [1], ["0+2"], indices, ["0.1 0.5"], 3)
    assert [s["name"] for s in plan] == ["1", "0+2", "random10", "random50"]
    random10, random50 = plan[2], plan[3]
    assert random10["kind"] == "sample" and len(random10["sample_ids"]) == 2
    assert len(random50["sample_ids"]) == 9 and max(random50["sample_ids"]) < 18
    assert nodes.plan_forget_scenarios(tiny_images, [1], None, indices, None, 3) == plan[:1]
