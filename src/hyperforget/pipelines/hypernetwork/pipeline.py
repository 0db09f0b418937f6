"""Wiring of the hypernetwork pipeline: one training and one held-out check per variant."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from hyperforget.hypernet.model import VARIANTS
from hyperforget.pipelines.hypernetwork import nodes


def _for_variant(func, variant: str):
    return update_wrapper(partial(func, variant), func)


def _variant_nodes(variant: str) -> list[Node]:
    """One DiHyFo variant: its training on the zoo, and its check on held-out runs."""
    return [
        Node(
            _for_variant(nodes.train_dihyfo, variant),
            inputs=[
                "hypernet_data",
                "class_manifest",
                "params:model",
                "params:hypernetwork",
                "params:device",
            ],
            outputs=[
                f"{variant}_weights",
                f"{variant}_ema_weights",
                f"{variant}_training_metrics",
            ],
            name=f"train_{variant}",
            tags=["hypernetwork", "hyperforget"],
            namespace=variant,
        ),
        Node(
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
        ),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    per_variant = []
    for variant in VARIANTS:
        per_variant += _variant_nodes(variant)
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
            *per_variant,
        ]
    )
