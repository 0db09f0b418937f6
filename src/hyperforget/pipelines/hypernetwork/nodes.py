"""Nodes of the hypernetwork pipeline: thin glue around ``hyperforget.hypernet``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget.core.data import split_tensors
from hyperforget.core.devices import resolve_device
from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.per_class import evaluate_per_class
from hyperforget.core.seeding import seeded
from hyperforget.core.targets import target_builder
from hyperforget.evaluation.plots import prompt_alignment_scatter
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import DiHyFo, DiHyFoConfig, load_dihyfo
from hyperforget.hypernet.train import (
    HyperTrainConfig,
    ZooSet,
    held_out_prompts,
    held_out_runs,
    prompt_alignment,
    sample_params,
    train_hypernetwork,
)

logger = logging.getLogger(__name__)


def _dihyfo_config(variant: str, hypernetwork: dict[str, Any]) -> DiHyFoConfig:
    return DiHyFoConfig.of(variant, hypernetwork["model"])


def _diffusion(hypernetwork: dict[str, Any]) -> GaussianDiffusion:
    return GaussianDiffusion(**hypernetwork["diffusion"])


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
    ema, curve = train_hypernetwork(
        net,
        _diffusion(hypernetwork),
        hypernet_data["train"],
        train_config,
        seed=int(hypernetwork["seed"]),
        device=dev,
        progress=f"train {variant}",
    )
    logger.info("%s: diffusion loss %.4f -> %.4f", variant, curve[0], curve[-1])
    every = train_config.log_every
    metrics = {
        f"{variant}.train_loss": [
            {"value": value, "step": min((i + 1) * every, train_config.steps)}
            for i, value in enumerate(curve)
        ]
    }
    raw = {**{k: v.cpu() for k, v in net.state_dict().items()}, "__metadata__": net.metadata()}
    averaged = {**{k: v.cpu() for k, v in ema.state_dict().items()}, "__metadata__": ema.metadata()}
    return raw, averaged, metrics


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
    """Prompt alignment on held-out runs: sample one network per prompt, measure its val losses."""
    dev = resolve_device(device)
    num_classes = int(class_manifest["num_classes"])
    layout = _layout(model, class_manifest)
    net = (
        load_dihyfo(dihyfo_weights, layout, num_classes, _dihyfo_config(variant, hypernetwork))
        .to(dev)
        .eval()
    )
    # prompts from the regimes the variant learned from
    held_out = hypernet_data["held_out"].of_regimes(_train_config(variant, hypernetwork).regimes)
    seed = int(hypernetwork["seed"])
    target_loss, current, current_loss = held_out_prompts(
        net, held_out, int(hypernetwork["max_prompts"]), seed
    )
    sampler = hypernetwork["sampler"]
    samples = sample_params(
        net,
        _diffusion(hypernetwork),
        target_loss,
        torch.Generator(device=dev).manual_seed(seed),
        current,
        current_loss,
        sampler=sampler["kind"],
        steps=int(sampler["steps"]),
    )
    module = target_builder(model, class_manifest)()
    observed = evaluate_per_class(
        module, samples, *split_tensors(val_split, dev), num_classes
    ).loss.cpu()
    per_class, overall = prompt_alignment(target_loss, observed)
    _, overall_log = prompt_alignment(torch.log1p(target_loss), torch.log1p(observed))
    logger.info(
        "%s held-out prompt alignment R^2 = %.3f (log-loss R^2 = %.3f, %d prompts)",
        variant,
        overall,
        overall_log,
        len(target_loss),
    )
    table = pd.DataFrame(
        {
            "class": [*(str(k) for k in range(num_classes)), "all", "all_log1p"],
            "r2": [*per_class.tolist(), overall, overall_log],
            "prompts": len(target_loss),
        }
    )
    metrics = {
        f"{variant}.held_out_r2": {"value": overall, "step": 0},
        f"{variant}.held_out_r2_log1p": {"value": overall_log, "step": 0},
        **{
            f"{variant}.held_out_r2_c{k}": {"value": float(v), "step": 0}
            for k, v in enumerate(per_class)
        },
    }
    plot = prompt_alignment_scatter(
        target_loss, observed, f"{variant}: held-out prompts (R² = {overall:.3f})"
    )
    return table, plot, metrics
