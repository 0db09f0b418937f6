"""Nodes of the model_zoo pipeline: thin glue around ``hyperforget.zoo``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from hyperforget.core import seeding
from hyperforget.core.compute import tasks
from hyperforget.core.console import show_table
from hyperforget.core.data import split_tensors
from hyperforget.core.devices import resolve_device
from hyperforget.core.scenario import scenario_names, scenarios_from
from hyperforget.core.targets import target_builder, weights_metadata
from hyperforget.evaluation.plots import zoo_loss_distributions
from hyperforget.pipelines.tracking import mlflow_metrics
from hyperforget.schema import checked
from hyperforget.zoo import recipe
from hyperforget.zoo import references as zoo_references
from hyperforget.zoo.build import build_zoo
from hyperforget.zoo.plan import FROM_LEARN, checkpoint_steps, plan_runs
from hyperforget.zoo.summary import summarise_references, summarise_regimes, summary_metrics
from hyperforget.zoo.training import SGDConfig, zoo_sgd

logger = logging.getLogger(__name__)


def plan_zoo(
    class_manifest: dict[str, Any],
    model_zoo: dict[str, Any],
    oracle_runs: int,
    forget_scenarios: list[dict[str, Any]],
) -> dict[str, Any]:
    """Validate the zoo configuration and fix every run's regime, class and seed (no training).
    ``oracle_runs`` (``evaluation.oracle_runs``): the retrained models per forgotten class and
    per forgotten class set of ``forget_scenarios``, the distribution every method is judged
    against; their seeds are held out here."""
    num_classes = int(class_manifest["num_classes"])
    specs = plan_runs(model_zoo["regimes"], num_classes, int(model_zoo["seed"]))
    others = zoo_references.after_classes(scenarios_from(forget_scenarios))
    reference_seeds = [
        int(model_zoo["reference_seed"]) + i for i in range(num_classes + 1 + len(others))
    ]
    clash = sorted({s.seed for s in specs} & set(reference_seeds))
    if clash:
        raise ValueError(
            f"model_zoo.reference_seed gives the original/oracles seeds {clash} that zoo runs "
            "also use; move reference_seed or model_zoo.seed apart so they stay held out."
        )
    if int(oracle_runs) < 1:
        raise ValueError(
            f"evaluation.oracle_runs must be at least 1 (32 or more to judge methods), got "
            f"{oracle_runs}."
        )
    replicas = {"runs": int(oracle_runs), "seed": int(model_zoo["oracle_replicas"]["seed"])}
    taken = {s.seed for s in specs} | set(reference_seeds)
    section = "model_zoo.oracle_replicas"
    replica_seeds = seeding.replica_seeds(
        replicas, "runs", num_classes, taken, "zoo runs or the original/oracles", section
    )
    # the class sets' seeds follow every class's and the sample sets' every class set's, so
    # adding a set changes no class's models, and adding a sample set no class set's
    sets = [s for s in others if s.kind == "class"]
    other_seeds = []
    for group, start in ((sets, num_classes), (others[len(sets) :], num_classes + len(sets))):
        after = {**replicas, "seed": replicas["seed"] + replicas["runs"] * start}
        other_seeds += seeding.replica_seeds(
            after, "runs", len(group), taken, "zoo runs or the original/oracles", section
        )
    checkpoint_steps(1, int(model_zoo["checkpoints_per_run"]))
    zoo_sgd(model_zoo)  # a bad recipe or precision fails here, not after other stages ran
    counts = pd.Series([s.regime for s in specs]).value_counts().to_dict()
    logger.info("Zoo plan: %d runs %s", len(specs), counts)
    return {
        "runs": specs,
        "reference_seeds": reference_seeds,
        "replica_seeds": replica_seeds,
        "after_classes": others,
        "after_classes_replica_seeds": dict(
            zip([s.name for s in others], other_seeds, strict=True)
        ),
    }


def select_recipe(
    train_split: dict[str, Tensor],
    val_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    model: dict[str, Any],
    model_zoo: dict[str, Any],
    device: str,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, dict[str, float]]]:
    """The run's training recipe: ``model_zoo.training`` with the learning rate chosen on the val
    split (``recipe.search_learning_rate``), and the logistic-regression reference the original
    is checked against. Stops here, before any zoo run, when no candidate rate comes within
    ``model_zoo.competence.max_gap`` of the reference (unless ``on_poor: mark``)."""
    dev = resolve_device(device)
    train, val = split_tensors(train_split, dev), split_tensors(val_split, dev)
    search = checked("model_zoo.recipe_search", model_zoo["recipe_search"])
    competence = checked("model_zoo.competence", model_zoo["competence"])
    sgd = checked("model_zoo.training", model_zoo["training"])
    reference = recipe.reference_accuracy(train, val, competence.reference_max_train, search.seed)
    choice = recipe.search_learning_rate(
        target_builder(model, class_manifest),
        train,
        val,
        sgd,
        search,
        reference,
        int(class_manifest["num_classes"]),
    )
    show_table(
        logger,
        f"Learning rate chosen on val: {choice.sgd.lr:g} (configured {sgd.lr:g}); mean val "
        f"accuracy per candidate, logistic-regression reference {reference:.1f}%:",
        choice.per_lr.rename("val_accuracy").to_frame().T.round(1),
        False,
    )
    competence.judge(
        "No candidate learning rate trains a competent network: the best",
        choice.best_val_accuracy,
        reference,
    )
    metrics = {
        "recipe.lr": choice.sgd.lr,
        "recipe.reference_val_accuracy": reference,
        **{f"recipe.lr_{lr:g}.val_accuracy": float(a) for lr, a in choice.per_lr.items()},
    }
    return choice.to_dict(), choice.candidates, mlflow_metrics(metrics)


def chosen_training(model_zoo: dict[str, Any], training_recipe: dict[str, Any]) -> dict[str, Any]:
    """``model_zoo`` with the run's chosen training recipe in place of the configured one."""
    return {**model_zoo, "training": training_recipe["training"]}


def train_zoo(
    train_split: dict[str, Tensor],
    val_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    zoo_plan: dict[str, Any],
    model: dict[str, Any],
    model_zoo: dict[str, Any],
    training_recipe: dict[str, Any],
    device: str,
    compute: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, dict[str, float]]]:
    """Train the zoo (on ``compute``'s backend) with the run's chosen recipe; returns its
    checkpoints ``[N, P]``, their table and size metrics."""
    dev = resolve_device(device)
    model_zoo = chosen_training(model_zoo, training_recipe)
    sgd = zoo_sgd(model_zoo)
    from_learn = {
        regime: checked(f"model_zoo.{regime}_training", model_zoo[f"{regime}_training"]).recipe(sgd)
        for regime in FROM_LEARN
    }
    cluster = checked("compute", compute)
    with tasks(cluster) as map_tasks:
        built = build_zoo(
            target_builder(model, class_manifest),
            zoo_plan["runs"],
            split_tensors(train_split, dev),
            split_tensors(val_split, dev),
            int(class_manifest["num_classes"]),
            sgd=sgd,
            epochs=sgd.epochs,
            from_learn=from_learn,
            checkpoints=int(model_zoo["checkpoints_per_run"]),
            fraction=float(model_zoo["train_fraction"]),
            max_abs_weight=float(model_zoo["max_abs_weight"]),
            map_tasks=map_tasks,
            shards=cluster.shards,
        )
    n_dropped = sum(built.dropped.values())
    log = logger.warning if n_dropped else logger.info
    log("Zoo: %d checkpoints kept; diverged runs dropped: %s", len(built.params), built.dropped)
    metrics = {
        "zoo.checkpoints": float(len(built.params)),
        "zoo.runs": float(built.table["run_id"].nunique()),
        **{f"zoo.dropped.{r}": float(n) for r, n in built.dropped.items()},
    }
    weights = {"params": built.params, "__metadata__": weights_metadata(model, class_manifest)}
    return weights, built.table, mlflow_metrics(metrics)


def _reference_recipe(
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    model: dict[str, Any],
    training_recipe: dict[str, Any],
    device: str,
) -> tuple[Callable[[], nn.Module], tuple[Tensor, Tensor], SGDConfig, float]:
    """What the original, the oracles and their replicas are all trained with: the network
    builder, the train split on the device, the run's chosen SGD recipe (``select_recipe``) and
    its epochs."""
    sgd = SGDConfig.from_params(training_recipe["training"], "training_recipe.training")
    build = target_builder(model, class_manifest)
    return build, split_tensors(train_split, resolve_device(device)), sgd, sgd.epochs


def train_reference_models(  # noqa: PLR0913 (the reference recipe, and the check of the original)
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    zoo_plan: dict[str, Any],
    model: dict[str, Any],
    training_recipe: dict[str, Any],
    device: str,
    val_split: dict[str, Tensor],
    competence: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, float]]]:
    """The original model and one oracle per class, trained alone with held-out seeds, timed.
    The original's val accuracy is checked against the run's logistic-regression reference:
    a poor original stops the run here, before unlearning (``model_zoo.competence``)."""
    build, train, sgd, epochs = _reference_recipe(
        train_split, class_manifest, model, training_recipe, device
    )
    num_classes = int(class_manifest["num_classes"])
    others = zoo_plan["after_classes"]
    seeds = zoo_plan["reference_seeds"]
    refs = zoo_references.train_reference_models(
        build,
        train,
        num_classes,
        sgd,
        epochs,
        seeds,
        [zoo_references.forgotten(s) for s in others],
    )
    check = checked("model_zoo.competence", competence)
    val = split_tensors(val_split, train[0].device)
    accuracy = float(recipe.val_accuracy(build, refs.original, val, num_classes))
    reference = float(training_recipe["reference_val_accuracy"])
    poor = check.judge("The original", accuracy, reference)
    if not poor:
        logger.info(
            "Original: %.1f%% val accuracy (logistic-regression reference %.1f%%)",
            accuracy,
            reference,
        )
    logger.info(
        "Original trained in %.2f s; oracles in %.2f s on average",
        refs.original_seconds,
        sum(refs.oracle_seconds) / len(refs.oracle_seconds),
    )
    metadata = weights_metadata(model, class_manifest)
    original = {
        "params": refs.original,
        "seconds": torch.tensor([refs.original_seconds], dtype=torch.float64),
        "seed": torch.tensor([refs.seeds[0]]),
        "val_accuracy": torch.tensor([accuracy], dtype=torch.float64),
        "reference_val_accuracy": torch.tensor([reference], dtype=torch.float64),
        "__metadata__": {**metadata, "poor_original": json.dumps(poor)},
    }
    oracles = {
        "params": refs.oracles,
        "seconds": torch.tensor(refs.oracle_seconds, dtype=torch.float64),
        "seeds": torch.tensor(refs.seeds[1:]),
        "__metadata__": {
            **metadata,
            "rows": "row k = oracle retrained without class k, then one row per scenario of "
            "after_classes (class sets, then sample sets)",
            "after_classes": json.dumps([s.name for s in others]),
        },
    }
    metrics = {
        "competence.original_val_accuracy": accuracy,
        "competence.reference_val_accuracy": reference,
        "competence.poor_original": float(poor),
    }
    return original, oracles, mlflow_metrics(metrics)


def retrain_oracles(
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    zoo_plan: dict[str, Any],
    model: dict[str, Any],
    training_recipe: dict[str, Any],
    device: str,
    forget_scenarios: list[dict[str, Any]],
    compute: dict[str, Any],
) -> dict[str, Any]:
    """The retrained distribution: per forget scenario, ``evaluation.oracle_runs`` oracles
    retrained from scratch without its class (class set, samples), each with its own held-out
    seed,
    ``[S, R, P]`` (a scenario's oracles are one task on ``compute``'s backend)."""
    scenarios = scenarios_from(forget_scenarios)
    classes = [zoo_references.forgotten(s) for s in scenarios]
    seeds = [zoo_references.replica_seeds_of(zoo_plan, s) for s in scenarios]
    reference = _reference_recipe(train_split, class_manifest, model, training_recipe, device)
    with tasks(checked("compute", compute)) as map_tasks:
        retrained = zoo_references.train_oracle_replicas(
            *reference, seeds, classes, map_tasks=map_tasks
        )
    logger.info(
        "Retrained %d oracle(s) for each of %d forget scenario(s) with held-out seeds",
        retrained.shape[1],
        len(classes),
    )
    return {
        "params": retrained,
        "seeds": torch.tensor(seeds, dtype=torch.long).reshape(len(seeds), -1),
        "__metadata__": {
            **weights_metadata(model, class_manifest),
            "scenarios": json.dumps(scenario_names(scenarios)),
            "rows": "[s, r] = oracle r retrained without the forget set of scenario s",
        },
    }


def summarise_zoo(  # noqa: PLR0913 (what is summarised, and what it is checked against)
    zoo_weights: dict[str, Any],
    zoo_checkpoints: pd.DataFrame,
    original_weights: dict[str, Any],
    oracle_weights: dict[str, Any],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    model: dict[str, Any],
    device: str,
    training_recipe: dict[str, Any],
    competence: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, Figure, dict[str, dict[str, float]]]:
    """Test-split quality of the final checkpoints per regime and of the reference models; per
    regime, the runs that ended far below the logistic-regression reference on val
    (``stalled_runs``, by ``model_zoo.competence.max_gap``)."""
    dev = resolve_device(device)
    num_classes = int(class_manifest["num_classes"])
    module = target_builder(model, class_manifest)()
    images, labels = split_tensors(test_split, dev)
    summary = summarise_regimes(
        module, zoo_weights["params"].to(dev), zoo_checkpoints, images, labels, num_classes
    )
    references = summarise_references(
        module,
        original_weights["params"].to(dev),
        float(original_weights["seconds"][0]),
        oracle_weights["params"][:num_classes].to(dev),  # the class sets' rows follow
        oracle_weights["seconds"][:num_classes].tolist(),
        images,
        labels,
        num_classes,
    )
    check = checked("model_zoo.competence", competence)
    reference = float(training_recipe["reference_val_accuracy"])
    stalled = recipe.stalled_runs(zoo_checkpoints, reference, check.max_gap, num_classes)
    summary["stalled_runs"] = summary["regime"].map(stalled).fillna(0).astype(int)
    for regime, count in stalled[stalled > 0].items():
        logger.warning(
            "Zoo: %d %s run(s) end more than %g points below the logistic-regression reference "
            "(%.1f%% val accuracy) on the classes they keep: they stalled or diverged",
            count,
            regime,
            check.max_gap,
            reference,
        )
    metrics = summary_metrics(summary, references)
    show_table(logger, "Zoo summary (data/08_reporting/zoo_summary.parquet):", summary, False)
    show_table(
        logger, "Reference models (data/08_reporting/reference_models.parquet):", references, False
    )
    plot = zoo_loss_distributions(zoo_checkpoints, num_classes)
    return summary, references, plot, mlflow_metrics(metrics)
