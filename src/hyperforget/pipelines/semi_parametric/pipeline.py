"""Wiring of the semi_parametric pipeline."""

from kedro.pipeline import Node, Pipeline

from hyperforget.pipelines.semi_parametric import nodes


def _training_and_deletion() -> list[Node]:
    """The SPM's runs trained with their memories, its deletions planned and applied."""
    return [
        Node(
            nodes.train_semi_parametric,
            inputs=[
                "train_split",
                "test_split",
                "class_manifest",
                "params:semi_parametric",
                "params:evaluation.method_runs",
                "params:device",
                "params:compute",
            ],
            outputs=[
                "spm_weights",
                "spm_memory",
                "spm_comparison_table",
                "spm_training_metrics",
            ],
            name="train_semi_parametric",
        ),
        Node(
            nodes.plan_deletions,
            inputs=[
                "train_split",
                "forget_scenarios",
                "params:semi_parametric",
                "params:evaluation.method_runs",
            ],
            outputs="spm_deletions",
            name="plan_spm_deletions",
        ),
        Node(
            nodes.delete_from_memory,
            inputs=["spm_memory", "spm_deletions"],
            outputs="spm_unlearned_memory",
            name="delete_from_spm_memory",
        ),
    ]


def _retraining() -> list[Node]:
    """The reference retrained SPMs and the retrained distribution: one recipe, only the seeds
    differ."""
    retrain_inputs = [
        "train_split",
        "class_manifest",
        "spm_deletions",
        "params:semi_parametric",
        "params:device",
        "params:evaluation.method_runs",
    ]
    return [
        Node(
            nodes.train_oracles,
            inputs=[*retrain_inputs[:-1], "params:compute"],
            outputs="spm_oracle_weights",
            name="train_spm_oracles",
        ),
        Node(
            nodes.train_oracle_replicas,
            inputs=[*retrain_inputs, "params:compute"],
            outputs="spm_oracle_replica_weights",
            name="train_spm_oracle_replicas",
        ),
    ]


def _evaluation() -> Node:
    """The SPM's rows of the benchmark, scored against the retrained SPMs."""
    return Node(
        nodes.evaluate_semi_parametric,
        inputs=[
            "spm_weights",
            "spm_memory",
            "spm_unlearned_memory",
            "spm_oracle_weights",
            "spm_oracle_replica_weights",
            "train_split",
            "test_split",
            "class_manifest",
            "spm_deletions",
            "params:semi_parametric",
            "params:evaluation",
            "params:device",
            "params:compute",
        ],
        outputs=[
            "spm_results_runs_table",
            "spm_forgetting_table",
            "spm_oracle_spread_table",
            "spm_oracle_spread_plot",
            "spm_oracle_spread_metrics",
        ],
        name="evaluate_semi_parametric",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([*_training_and_deletion(), *_retraining(), _evaluation()])
