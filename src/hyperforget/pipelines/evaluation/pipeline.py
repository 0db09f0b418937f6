"""Wiring of the evaluation pipeline: one node scoring every run of every method against the
retrained distribution, one measuring how much retraining alone moves retain-test accuracy, one
measuring how close every network lies to the zoo."""

from kedro.pipeline import Node, Pipeline

from hyperforget.pipelines.evaluation import nodes
from hyperforget.unlearning.registry import available_methods


def _scores() -> Node:
    """Every run of every method (and the SPM's rows) scored per forget scenario."""
    inputs = {
        "original_weights": "original_weights",
        "oracle_weights": "oracle_weights",
        "retrained_weights": "retrained_weights",
        "train_split": "train_split",
        "test_split": "test_split",
        "class_manifest": "class_manifest",
        "forget_scenarios": "forget_scenarios",
        "model": "params:model",
        "evaluation_params": "params:evaluation",
        "device": "params:device",
        "compute": "params:compute",
        "spm_runs": "spm_results_runs_table",
        "spm_forgetting": "spm_forgetting_table",
        "methods_to_run": "params:unlearning.run",
        **{method: f"{method}_unlearned_weights" for method in available_methods()},
    }
    return Node(
        nodes.evaluate,
        inputs=inputs,
        outputs=[
            "results_table",
            "results_csv",
            "results_runs_table",
            "results_md",
            "per_class_accuracy_plot",
            "loss_alignment_plot",
            "oracle_agreement_plot",
            "final_score_plot",
            "evaluation_metrics",
        ],
        name="evaluate",
    )


def _oracle_spread() -> Node:
    """How much retraining alone moves retain-test accuracy."""
    return Node(
        nodes.evaluate_oracle_spread,
        inputs=[
            "results_table",
            "original_weights",
            "oracle_weights",
            "retrained_weights",
            "test_split",
            "class_manifest",
            "forget_scenarios",
            "params:model",
            "params:device",
            "params:evaluation.retain_margins",
            "params:evaluation.oracle_max_z",
        ],
        outputs=[
            "oracle_spread_table",
            "oracle_spread_plot",
            "retrain_pass_table",
            "oracle_spread_metrics",
        ],
        name="evaluate_oracle_spread",
    )


def _zoo_distances() -> Node:
    """How close every method run and retrained model lies to the zoo."""
    return Node(
        nodes.evaluate_zoo_distances,
        inputs={
            "zoo_weights": "zoo_weights",
            "zoo_checkpoints": "zoo_checkpoints",
            "retrained_weights": "retrained_weights",
            "class_manifest": "class_manifest",
            "forget_scenarios": "forget_scenarios",
            "model": "params:model",
            "method_runs": "params:evaluation.method_runs",
            "methods_to_run": "params:unlearning.run",
            "compute": "params:compute",
            **{m: f"{m}_unlearned_weights" for m in available_methods()},
        },
        outputs=["zoo_distance_table", "zoo_distance_metrics"],
        name="evaluate_zoo_distances",
    )


def leave_out_node() -> Node:
    """A DiHyFo trained without each listed class's zoo runs, asked to forget that class."""
    return Node(
        nodes.evaluate_leave_out,
        inputs=[
            "zoo_weights",
            "zoo_checkpoints",
            "original_weights",
            "retrained_weights",
            "train_split",
            "val_split",
            "test_split",
            "class_manifest",
            "forget_scenarios",
            "params:model",
            "params:hypernetwork",
            "params:unlearning.methods.dihyfo1",
            "params:unlearning.methods.dihyfo2",
            "params:evaluation",
        ],
        outputs=["leave_out_table", "leave_out_metrics"],
        name="evaluate_leave_out",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([_scores(), _oracle_spread(), _zoo_distances(), leave_out_node()])
