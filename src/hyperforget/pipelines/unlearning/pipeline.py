"""Wiring of the unlearning pipeline: one node per method of ``hyperforget.unlearning``."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from hyperforget.pipelines.unlearning import nodes
from hyperforget.unlearning.registry import method_specs


def family(method: str) -> str:
    """The tag kedro-viz filters a method's nodes by."""
    if method.startswith("dihyfo"):
        return "hyperforget"
    if method.startswith("ltu"):
        return "ltu"
    return "baseline"


def create_pipeline(**kwargs) -> Pipeline:
    common = {
        "original_weights": "original_weights",
        "train_split": "train_split",
        "val_split": "val_split",
        "class_manifest": "class_manifest",
        "forget_scenarios": "forget_scenarios",
        "model": "params:model",
        "methods_to_run": "params:unlearning.run",
        "seed": "params:unlearning.seed",
        "method_runs": "params:evaluation.method_runs",
        "device": "params:device",
        "compute": "params:compute",
    }
    return Pipeline(
        [
            Node(
                update_wrapper(partial(nodes.unlearn, method), nodes.unlearn),
                inputs={
                    **common,
                    "method_config": f"params:unlearning.methods.{method}",
                    **(
                        {"base_config": f"params:unlearning.methods.{spec.extends}"}
                        if spec.extends
                        else {}
                    ),
                    **spec.inputs,
                },
                outputs=[f"{method}_unlearned_weights", f"{method}_unlearning_metrics"],
                name=f"unlearn_{method}",
                tags=["unlearning", family(method)],
                namespace=method,
            )
            for method, spec in method_specs().items()
        ]
    )
