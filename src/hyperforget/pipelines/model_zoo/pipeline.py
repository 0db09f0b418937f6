"""Wiring of the model_zoo pipeline."""

from kedro.pipeline import Node, Pipeline

from hyperforget.pipelines.model_zoo import nodes


def _recipe_and_zoo() -> list[Node]:
    """The training recipe chosen on val, the zoo's plan and its training."""
    return [
        Node(
            nodes.select_recipe,
            inputs=[
                "train_split",
                "val_split",
                "class_manifest",
                "params:model",
                "params:model_zoo",
                "params:device",
            ],
            outputs=["training_recipe", "recipe_search_table", "recipe_metrics"],
            name="select_recipe",
        ),
        Node(
            nodes.plan_zoo,
            inputs=[
                "class_manifest",
                "params:model_zoo",
                "params:evaluation.oracle_runs",
                "forget_scenarios",
            ],
            outputs="zoo_plan",
            name="plan_zoo",
        ),
        Node(
            nodes.train_zoo,
            inputs=[
                "train_split",
                "val_split",
                "class_manifest",
                "zoo_plan",
                "params:model",
                "params:model_zoo",
                "training_recipe",
                "params:device",
                "params:compute",
            ],
            outputs=["zoo_weights", "zoo_checkpoints", "zoo_size_metrics"],
            name="train_zoo",
        ),
    ]


def _reference_models() -> list[Node]:
    """The original and the oracles, and the retrained distribution: one training recipe,
    same inputs."""
    reference_inputs = [
        "train_split",
        "class_manifest",
        "zoo_plan",
        "params:model",
        "training_recipe",
        "params:device",
    ]
    return [
        Node(
            nodes.train_reference_models,
            inputs=[*reference_inputs, "val_split", "params:model_zoo.competence"],
            outputs=["original_weights", "oracle_weights", "competence_metrics"],
            name="train_reference_models",
        ),
        Node(
            nodes.retrain_oracles,
            inputs=[*reference_inputs, "forget_scenarios", "params:compute"],
            outputs="retrained_weights",
            name="retrain_oracles",
        ),
    ]


def _summary() -> Node:
    """The zoo's and the reference models' tables, plot and metrics."""
    return Node(
        nodes.summarise_zoo,
        inputs=[
            "zoo_weights",
            "zoo_checkpoints",
            "original_weights",
            "oracle_weights",
            "test_split",
            "class_manifest",
            "params:model",
            "params:device",
            "training_recipe",
            "params:model_zoo.competence",
        ],
        outputs=[
            "zoo_summary_table",
            "reference_models_table",
            "zoo_loss_distribution_plot",
            "zoo_quality_metrics",
        ],
        name="summarise_zoo",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([*_recipe_and_zoo(), *_reference_models(), _summary()])
