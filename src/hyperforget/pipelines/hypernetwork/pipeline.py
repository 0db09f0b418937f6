"""Wiring of the hypernetwork pipeline: both variants trained side by side, then one held-out
check per variant."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from hyperforget.hypernet.model import VARIANTS
from hyperforget.pipelines.hypernetwork import nodes


def _for_variant(func, variant: str):
    return update_wrapper(partial(func, variant), func)


def _check_node(variant: str) -> Node:
    """One DiHyFo variant's check on held-out runs."""
    return Node(
        _for_variant(nodes.check_held_out, variant),
        inputs=[
            f"{variant}_ema_weights",
            "hypernet_data",
            "val_split",
            "class_manifest",
            "params:model",
            "params:hypernetwork",
            "params:device",
        ],
        outputs=[
            f"{variant}_alignment_table",
            f"{variant}_alignment_plot",
            f"{variant}_alignment_metrics",
        ],
        name=f"check_{variant}_held_out",
        tags=["hypernetwork", "hyperforget"],
        namespace=variant,
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.split_zoo,
                inputs=[
                    "zoo_weights",
                    "zoo_checkpoints",
                    "class_manifest",
                    "params:hypernetwork.held_out_fraction",
                    "params:hypernetwork.scale_numerator",
                    "params:hypernetwork.seed",
                ],
                outputs="hypernet_data",
                name="split_zoo",
            ),
            Node(
                nodes.train_dihyfos,
                inputs=[
                    "hypernet_data",
                    "class_manifest",
                    "params:model",
                    "params:hypernetwork",
                    "params:device",
                    "params:compute",
                ],
                outputs=[
                    f"{variant}_{output}"
                    for variant in VARIANTS
                    for output in ("weights", "ema_weights", "training_metrics")
                ],
                name="train_dihyfos",
                tags=["hypernetwork", "hyperforget"],
            ),
            *(_check_node(variant) for variant in VARIANTS),
        ]
    )
