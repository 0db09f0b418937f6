"""Wiring of the data_preparation pipeline."""

from kedro.pipeline import Node, Pipeline

from hyperforget.pipelines.data_preparation import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.select_classes,
                inputs=[
                    "raw_images",
                    "params:data_preparation.classes",
                    "params:data_preparation.subset",
                    "params:data_preparation.split.seed",
                    "params:data_preparation.normalisation",
                    "params:data_preparation.split.official_test",
                ],
                outputs="selected_images",
                name="select_classes",
            ),
            Node(
                nodes.plan_forget_scenarios,
                inputs=[
                    "selected_images",
                    "params:unlearning.forget_classes",
                    "params:unlearning.forget_class_sets",
                    "split_indices",
                    "params:unlearning.sample_fractions",
                    "params:unlearning.seed",
                ],
                outputs="forget_scenarios",
                name="plan_forget_scenarios",
            ),
            Node(
                nodes.split_stratified,
                inputs=["selected_images", "params:data_preparation.split"],
                outputs="split_indices",
                name="split_stratified",
            ),
            Node(
                nodes.normalise_splits,
                inputs=[
                    "selected_images",
                    "split_indices",
                    "params:data_preparation.normalisation",
                ],
                outputs=["train_split", "val_split", "test_split", "normalisation_used"],
                name="normalise_splits",
            ),
            Node(
                nodes.describe_splits,
                inputs=[
                    "selected_images",
                    "split_indices",
                    "normalisation_used",
                    "params:data_preparation.classes",
                    "params:data_preparation.split",
                ],
                outputs=[
                    "class_manifest",
                    "class_counts_table",
                    "class_counts_plot",
                    "data_counts",
                ],
                name="describe_splits",
            ),
        ]
    )
