"""Nodes of the hypernetwork pipeline: thin glue around ``hyperforget.hypernet``."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget.core.compute import tasks, torch_threads
from hyperforget.core.data import split_tensors
from hyperforget.core.devices import resolve_device
from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.seeding import seeded
from hyperforget.core.targets import target_builder
from hyperforget.hypernet.check import held_out_alignment
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import VARIANTS, DiHyFo, DiHyFoConfig, load_dihyfo
from hyperforget.hypernet.train import (
    HyperTrainConfig,
    ZooSet,
    held_out_runs,
    loss_curve_steps,
    train_hypernetwork,
)
from hyperforget.pipelines.tracking import mlflow_metrics
from hyperforget.schema import checked

logger = logging.getLogger(__name__)


def _dihyfo_config(variant: str, hypernetwork: dict[str, Any]) -> DiHyFoConfig:
    return DiHyFoConfig.of(variant, hypernetwork["model"])


def _diffusion(hypernetwork: dict[str, Any]) -> GaussianDiffusion:
    return GaussianDiffusion(**hypernetwork["diffusion"])


def weights_file(net: DiHyFo) -> dict[str, Any]:
    return {**{k: v.cpu() for k, v in net.state_dict().items()}, "__metadata__": net.metadata()}


def _layout(model: dict[str, Any], manifest: dict[str, Any]) -> ParamLayout:
    return ParamLayout.from_module(target_builder(model, manifest)())


def _train_config(variant: str, hypernetwork: dict[str, Any]) -> HyperTrainConfig:
    return HyperTrainConfig.for_variant(hypernetwork, variant)


def split_zoo(
    zoo_weights: dict[str, Any],
    zoo_checkpoints: pd.DataFrame,
    class_manifest: dict[str, Any],
    held_out_fraction: float,
    scale_numerator: float,
    seed: int,
) -> dict[str, Any]:
    """Hold ``held_out_fraction`` of the zoo runs out of training (seeded); fix the parameter
    scale, ``scale_numerator / std``, from the training runs."""
    zoo = ZooSet.from_table(
        zoo_weights["params"], zoo_checkpoints, int(class_manifest["num_classes"])
    )
    held_out = held_out_runs(zoo_checkpoints, float(held_out_fraction), int(seed))
    train_ids = torch.tensor(sorted(set(zoo_checkpoints["run_id"]) - set(held_out.tolist())))
    train = zoo.select_runs(train_ids)
    scale = float(scale_numerator) / float(train.params.std())
    logger.info(
        "Hypernetwork data: %d training checkpoints, %d held-out runs; parameter scale %.3f",
        len(train.params),
        len(held_out),
        scale,
    )
    return {"train": train, "held_out": zoo.select_runs(held_out), "scale": scale}


def train_dihyfos(
    hypernet_data: dict[str, Any],
    class_manifest: dict[str, Any],
    model: dict[str, Any],
    hypernetwork: dict[str, Any],
    device: str,
    compute: dict[str, Any],
) -> tuple[dict[str, Any], ...]:
    """Both variants, each a task of ``compute``'s backend: side by side in the pool's processes
    (``processes``; a transformer this small keeps one core busier than two), one after another
    on every core (``local``). Returns each variant's raw weights, EMA weights and metrics, in
    ``VARIANTS`` order."""
    cluster = checked("compute", compute)
    threads = None if cluster.backend == "local" else cluster.run_threads
    with tasks(cluster) as map_tasks, torch_threads(threads):
        trained = map_tasks(
            train_dihyfo,
            list(VARIANTS),
            "train DiHyFo",
            hypernet_data=hypernet_data,
            class_manifest=class_manifest,
            model=model,
            hypernetwork=hypernetwork,
            device=device,
        )
    return tuple(output for outputs in trained for output in outputs)


def train_dihyfo(
    variant: str,
    hypernet_data: dict[str, Any],
    class_manifest: dict[str, Any],
    model: dict[str, Any],
    hypernetwork: dict[str, Any],
    device: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Train one DiHyFo variant; returns raw and EMA weights and its loss curve for MLflow."""
    dev = resolve_device(device)
    config = _dihyfo_config(variant, hypernetwork)
    # The initial weights follow the configured seed, not whatever the nodes run before drew
    # from the global generator (adding a node elsewhere would otherwise change the result).
    with seeded(hypernetwork["seed"]):
        net = DiHyFo(
            _layout(model, class_manifest),
            int(class_manifest["num_classes"]),
            config,
            hypernet_data["scale"],
        )
    train_config = _train_config(variant, hypernetwork)
    started = time.perf_counter()
    ema, curve = train_hypernetwork(
        net,
        _diffusion(hypernetwork),
        hypernet_data["train"],
        train_config,
        seed=int(hypernetwork["seed"]),
        device=dev,
        progress=f"train {variant}",
        position=VARIANTS.index(variant),
    )
    seconds = time.perf_counter() - started
    logger.info("%s: diffusion loss %.4f -> %.4f in %.0f s", variant, curve[0], curve[-1], seconds)
    metrics = {
        f"{variant}.train_loss": loss_curve_steps(curve, train_config),
        **mlflow_metrics({f"{variant}.train_seconds": seconds}),
    }
    # the training seconds travel with the weights that unlearn: the break-even's cost
    trained = {**weights_file(ema), "seconds": torch.tensor([seconds], dtype=torch.float64)}
    return weights_file(net), trained, metrics


def check_held_out(
    variant: str,
    dihyfo_weights: dict[str, Any],
    hypernet_data: dict[str, Any],
    val_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    model: dict[str, Any],
    hypernetwork: dict[str, Any],
    device: str,
) -> tuple[pd.DataFrame, Figure, dict[str, Any]]:
    """Prompt alignment on held-out runs of the regimes the variant learned from."""
    dev = resolve_device(device)
    num_classes = int(class_manifest["num_classes"])
    config = _dihyfo_config(variant, hypernetwork)
    layout = _layout(model, class_manifest)
    net = load_dihyfo(dihyfo_weights, layout, num_classes, config).to(dev).eval()
    held_out = hypernet_data["held_out"].of_regimes(_train_config(variant, hypernetwork).regimes)
    module = target_builder(model, class_manifest)()
    val = split_tensors(val_split, dev)
    alignment = held_out_alignment(
        variant, net, held_out, val, module, num_classes, hypernetwork, dev
    )
    return alignment.table, alignment.plot, mlflow_metrics(alignment.mlflow_metrics)
