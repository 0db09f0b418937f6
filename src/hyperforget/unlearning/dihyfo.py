"""HyperForget unlearning by sampling (DESIGN 5): ask a DiHyFo for weights whose per-class loss is
high on the forgotten classes and unchanged elsewhere, then keep the best of N candidates.

* target ``l*``: the original model's per-class validation losses, with each forgotten class's
  entry replaced by its forgotten level (``request.resources["levels"]``: by default
  the mean class-k validation loss of the zoo's retain_k runs);
* N candidates are drawn in one batch (DiHyFo-1 starts from the original weights and their
  losses; DiHyFo-2 only sees ``l*``); DiHyFo-1 may take several ``rounds``, each starting
  from the best network so far (the best over all rounds is kept);
* selection on the validation split only: the candidate whose observed per-class losses are
  closest to ``l*`` in ``log1p`` space (L2), a scale on which a forgotten-class loss of 15 vs 20
  matters about as much as a retained-class loss of 0.2 vs 0.3.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from hyperforget.diffusion import GaussianDiffusion
from hyperforget.dihyfo import DiHyFoConfig, load_dihyfo
from hyperforget.flat_params import ParamLayout
from hyperforget.hypertrain import prompt_alignment, sample_params
from hyperforget.metrics import evaluate_per_class
from hyperforget.unlearning import ForgetRequest, MethodSpec, Unlearned

SELECTION_RULE = "min L2 distance of log1p(per-class val loss) to log1p(l*)"


def forgotten_levels(zoo_checkpoints: pd.DataFrame, num_classes: int) -> dict[int, float]:
    """Mean class-k validation loss of the final checkpoints of the zoo's retain_k runs."""
    table = zoo_checkpoints[zoo_checkpoints["regime"] == "retain"]
    finals = table.loc[table.groupby("run_id")["step"].idxmax()]
    levels = {}
    for k in range(num_classes):
        runs = finals[finals["forget_classes"] == str(k)]
        if len(runs):
            levels[k] = float(runs[f"val_loss_c{k}"].mean())
    return levels


def prepare(
    resources: dict[str, Any], request: ForgetRequest, config: dict[str, Any]
) -> dict[str, Any]:
    """Build the hypernetwork from its weight file once, and the forgotten levels."""
    hyper = resources["hypernetwork_params"]
    layout = ParamLayout.from_module(request.build())
    model_config = DiHyFoConfig(variant=config["method"], **hyper["model"])
    net = load_dihyfo(resources["hypernetwork"], layout, request.num_classes, model_config)
    rounds = int(config.get("rounds", 1))
    if rounds < 1 or (rounds > 1 and not net.residual):
        raise ValueError(
            f"unlearning.methods.{config['method']}.rounds must be 1 or more, and only DiHyFo-1 "
            f"(which starts from current weights) can take more than one; got {rounds}."
        )
    levels = forgotten_levels(resources["zoo_checkpoints"], request.num_classes)
    if config.get("forgotten_level") is not None:
        levels = dict.fromkeys(range(request.num_classes), float(config["forgotten_level"]))
    missing = [k for k in request.forget_classes if k not in levels]
    if missing:
        raise ValueError(
            f"The zoo has no retain runs for classes {missing}, so their forgotten level is "
            "unknown: add them to model_zoo.regimes.retain.classes or set "
            "unlearning.methods.<dihyfo>.forgotten_level."
        )
    return {
        "net": net.to(request.original.device).eval(),
        "diffusion": GaussianDiffusion(**hyper["diffusion"]),
        "levels": levels,
    }


def spec(variant: str) -> MethodSpec:
    return MethodSpec(
        forget=forget,
        inputs={
            "hypernetwork": f"{variant}_ema_weights",
            "hypernetwork_params": "params:hypernetwork",
            "zoo_checkpoints": "zoo_checkpoints",
        },
        prepare=prepare,
    )


def forget(request: ForgetRequest, config: dict[str, Any]) -> Unlearned:
    net = request.resources["net"]
    diffusion = request.resources["diffusion"]
    levels = request.resources["levels"]
    module = request.build()
    device = request.original.device
    val_images, val_labels = request.val
    original_loss = evaluate_per_class(
        module, request.original, val_images, val_labels, request.num_classes
    ).loss
    target = original_loss.clone()
    for k in request.forget_classes:
        target[k] = levels[k]
    n = int(config["candidates"])
    guidance = float(config.get("guidance", 0.0))
    rounds = int(config.get("rounds", 1))
    generator = torch.Generator(device=device).manual_seed(request.seed)
    best_params, best_loss, best_distance = request.original, original_loss, float("inf")
    for _ in range(rounds):
        # DiHyFo-1 starts every round from the best network so far, a learned optimiser
        # stepping again towards l*; DiHyFo-2 draws from l* alone
        current = best_params.expand(n, -1) if net.residual else None
        current_loss = best_loss.expand(n, -1) if net.residual else None
        candidates = sample_params(
            net,
            diffusion,
            target.expand(n, -1),
            generator,
            current,
            current_loss,
            sampler=config["sampler"],
            steps=int(config["sampler_steps"]),
            guidance=guidance,
            reference_loss=best_loss.expand(n, -1),
        )
        observed = evaluate_per_class(
            module, candidates, val_images, val_labels, request.num_classes
        ).loss
        distance = (torch.log1p(observed) - torch.log1p(target)).pow(2).sum(1)
        distance = torch.nan_to_num(distance, nan=float("inf"))
        best = int(distance.argmin())
        if float(distance[best]) < best_distance:
            best_params, best_loss = candidates[best], observed[best]
            best_distance = float(distance[best])
    _, r2 = prompt_alignment(target.unsqueeze(1).cpu(), best_loss.unsqueeze(1).cpu())
    return Unlearned(
        params=best_params,
        info={
            "target_loss": target.cpu(),
            "observed_loss": best_loss.cpu(),
            "prompt_r2": r2,
            "candidates": n,
            "rounds": rounds,
            "selection_rule": SELECTION_RULE,
            "guidance": guidance,
        },
    )
