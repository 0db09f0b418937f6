"""Prompt alignment on held-out zoo runs (G.pt's check): sample one network per prompt and
measure how well its per-class val losses match the losses it was asked for (R^2)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from hyperforget.core.per_class import evaluate_per_class
from hyperforget.evaluation.plots import prompt_alignment_scatter
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import DiHyFo
from hyperforget.hypernet.train import ZooSet, held_out_prompts, prompt_alignment, sample_params

logger = logging.getLogger(__name__)


@dataclass
class Alignment:
    """R^2 per class and over all (``table``), its scatter plot and MLflow metrics."""

    table: pd.DataFrame
    plot: Figure
    mlflow_metrics: dict[str, float]


def held_out_alignment(  # noqa: PLR0913 (the check's whole input)
    variant: str,
    net: DiHyFo,
    held_out: ZooSet,
    val: tuple[Tensor, Tensor],
    module: nn.Module,
    num_classes: int,
    hypernetwork: Mapping[str, Any],
    device: torch.device,
) -> Alignment:
    """Prompts from ``held_out`` runs (``hypernetwork.max_prompts``), one sampled network each
    (``hypernetwork.sampler``), its per-class losses on ``val`` against the prompt."""
    seed = int(hypernetwork["seed"])
    target_loss, current, current_loss = held_out_prompts(
        net, held_out, int(hypernetwork["max_prompts"]), seed
    )
    sampler = hypernetwork["sampler"]
    samples = sample_params(
        net,
        GaussianDiffusion(**hypernetwork["diffusion"]),
        target_loss,
        torch.Generator(device=device).manual_seed(seed),
        current,
        current_loss,
        sampler=sampler["kind"],
        steps=int(sampler["steps"]),
    )
    observed = evaluate_per_class(module, samples, *val, num_classes).loss.cpu()
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
        f"{variant}.held_out_r2": overall,
        f"{variant}.held_out_r2_log1p": overall_log,
        **{f"{variant}.held_out_r2_c{k}": float(v) for k, v in enumerate(per_class)},
    }
    plot = prompt_alignment_scatter(
        target_loss, observed, f"{variant}: held-out prompts (R² = {overall:.3f})"
    )
    return Alignment(table, plot, metrics)
