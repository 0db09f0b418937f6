"""The SPM's runs: training them with their memories, planning and timing deletions, and the
retrained SPMs (the reference oracle and the retrained distribution) they are judged against.

Run r of the SPM uses seed ``semi_parametric.seed + r``; stacked results are ``[M, ...]`` over
runs and ``[S, M, ...]`` over scenarios and runs, the layout the evaluation reads.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from hyperforget.core.compute import MapTasks, local_map
from hyperforget.core.console import show_table
from hyperforget.core.data import split_tensors
from hyperforget.core.devices import resolve_device, synchronize
from hyperforget.core.flat_params import flatten_module
from hyperforget.core.params import list_param
from hyperforget.core.scenario import ForgetScenario, scenarios_from
from hyperforget.core.seeding import replica_seeds, seeded
from hyperforget.evaluation import metrics
from hyperforget.spm.memory import Memory, build_memory, predict
from hyperforget.spm.model import Classifier, SemiParametric
from hyperforget.spm.train import SPMConfig, train_classifier, train_spm_batch

logger = logging.getLogger(__name__)
MEMORY_FIELDS = ("embeddings", "labels", "sample_ids", "alive", "class_sums", "class_counts")


def config_of(params: dict[str, Any]) -> SPMConfig:
    """The SPM recipe, checked before any training."""
    return SPMConfig.of(params)


def build_model(config: SPMConfig, manifest: dict[str, Any]) -> SemiParametric:
    """An untrained SPM of the recipe, for the prepared data's input shape."""
    return SemiParametric(manifest["input_shape"], config.hidden, config.embed_dim, config.encoder)


def train_several(
    images: Tensor, labels: Tensor, manifest: dict[str, Any], config: SPMConfig, seeds: list[int]
) -> list[tuple[SemiParametric, float]]:
    """One SPM built and trained per seed, trained together (``train_spm_batch``), each with
    its share of the training seconds."""
    if not seeds:
        return []
    models = []
    for seed in seeds:
        with seeded(seed):
            models.append(build_model(config, manifest).to(images.device))
    start = time.perf_counter()
    train_spm_batch(
        models,
        images,
        labels,
        int(manifest["num_classes"]),
        config,
        [torch.Generator().manual_seed(seed) for seed in seeds],
        progress=f"train {len(seeds)} SPM(s) (seeds {seeds[0]}..{seeds[-1]})",
    )
    synchronize(images.device)
    share = (time.perf_counter() - start) / len(seeds)
    return [(model, share) for model in models]


def memory_tensors(memory: Memory) -> dict[str, Tensor]:
    """A memory's tensors on the CPU, as the catalog stores them."""
    return {name: getattr(memory, name).cpu() for name in MEMORY_FIELDS}


def memory_from(tensors: dict[str, Tensor], device: torch.device) -> Memory:
    """The memory of stored tensors (``memory_tensors``), on ``device``."""
    return Memory(**{name: tensors[name].to(device) for name in MEMORY_FIELDS})


def requested_sample_ids(params: dict[str, Any], num_train: int) -> list[int] | None:
    """``semi_parametric.forget_sample_ids``, checked against the training split."""
    ids = list_param(params.get("forget_sample_ids"))
    if ids is None:
        return None
    if not isinstance(ids, list | tuple) or not all(isinstance(i, int) for i in ids):
        raise ValueError(
            f"semi_parametric.forget_sample_ids must be a list of training-sample ids, got {ids!r}."
        )
    if not ids:
        raise ValueError(
            "semi_parametric.forget_sample_ids is empty: list the training-sample ids to forget, "
            "or set it to null."
        )
    unknown = sorted({i for i in ids if not 0 <= i < num_train})
    if unknown:
        raise ValueError(
            f"semi_parametric.forget_sample_ids contains {unknown[:10]}, not ids of the training "
            f"split (0..{num_train - 1}); nothing was trained or deleted."
        )
    if len(set(ids)) == num_train:
        raise ValueError(
            "semi_parametric.forget_sample_ids lists every training sample: the SPM memory would "
            "be empty. Forget fewer samples."
        )
    return sorted(set(ids))


def plan_deletions(
    train_split: dict[str, Tensor],
    forget_scenarios: list[dict[str, Any]],
    params: dict[str, Any],
    method_runs: int,
) -> list[dict[str, Any]]:
    """The SPM's scenarios: every planned one (class-wise and sample-wise, the same requests
    the parametric methods answer), and forgetting the training samples listed in
    ``forget_sample_ids``."""
    labels = train_split["labels"]
    scenarios = scenarios_from(forget_scenarios)
    config_of(params)  # fail on a bad recipe here, before the SPM trains
    chosen = requested_sample_ids(params, len(labels))
    if chosen is not None:
        scenarios.append(ForgetScenario.of_samples(f"samples{len(chosen)}", chosen))
    # as the SPM deletes them: a class scenario's classes, and every scenario's training samples
    plans = [
        {**s.to_dict(), "sample_ids": s.forget_mask(labels, "train").nonzero()[:, 0].tolist()}
        for s in scenarios
    ]
    # fail on clashing seeds, or too few retrained SPMs for F, before any training
    retrained = len(oracle_replica_seeds(params, len(plans), method_runs)[0])
    if retrained < int(method_runs):
        raise ValueError(
            f"semi_parametric.oracle_replicas.runs_per_scenario is {retrained}, but forgetting "
            f"quality pairs each of the {method_runs} SPM runs (evaluation.method_runs) with its "
            f"own retrained SPM: set it to at least {method_runs}."
        )
    return plans


def spm_seeds(params: dict[str, Any], method_runs: int) -> list[int]:
    """The seeds of the SPM's runs: ``semi_parametric.seed + r`` for run r."""
    if int(method_runs) < 1:
        raise ValueError(f"evaluation.method_runs must be at least 1, got {method_runs}.")
    return [int(params["seed"]) + r for r in range(int(method_runs))]


def _plain_classifier(
    images: Tensor,
    labels: Tensor,
    class_manifest: dict[str, Any],
    config: SPMConfig,
    seed: int,
    device: torch.device,
) -> tuple[Classifier, float]:
    """The SPM's encoder as a plain softmax classifier, trained with ``seed`` and timed."""
    with seeded(seed):
        classifier = Classifier(
            class_manifest["input_shape"],
            config.hidden,
            config.embed_dim,
            int(class_manifest["num_classes"]),
            config.encoder,
        ).to(device)
    start = time.perf_counter()
    train_classifier(classifier, images, labels, config, torch.Generator().manual_seed(int(seed)))
    return classifier, time.perf_counter() - start


def _comparison_rows(
    spm: tuple[SemiParametric, float],
    memory: Memory,
    classifier: tuple[Classifier, float],
    test: tuple[Tensor, Tensor],
    config: SPMConfig,
) -> list[dict[str, Any]]:
    """Test accuracy and training seconds of SPM-C, SPM-R and the plain classifier."""
    (model, seconds), (net, classifier_seconds) = spm, classifier
    test_images, test_labels = test
    with torch.no_grad():
        classifier_acc = metrics.accuracy(net(test_images).cpu(), test_labels.cpu())
    rows = [
        {
            "model": f"spm_{mode}",
            "test_accuracy": metrics.accuracy(
                predict(model, memory, test_images, mode, config.neighbours).cpu(),
                test_labels.cpu(),
            ),
            "train_seconds": seconds,
        }
        for mode in ("c", "r")
    ]
    rows.append(
        {
            "model": "classifier",
            "test_accuracy": classifier_acc,
            "train_seconds": classifier_seconds,
        }
    )
    return rows


def _stored(
    trained: list[tuple[SemiParametric, float]],
    memories: list[Memory],
    config: SPMConfig,
    seeds: list[int],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The runs' weights ``[M, P]`` with their training seconds, and their memories
    ``[M, ...]``, as the catalog stores them."""
    metadata = {
        "config": json.dumps(config.to_dict()),
        "seeds": json.dumps(seeds),
        "rows": "row r = the SPM trained with seed semi_parametric.seed + r",
    }
    weights = {
        "params": torch.stack([flatten_module(m).cpu() for m, _ in trained]),
        "seconds": torch.tensor([spent for _, spent in trained], dtype=torch.float64),
        "__metadata__": metadata,
    }
    stacked = [memory_tensors(m) for m in memories]
    memory_rows = {name: torch.stack([m[name] for m in stacked]) for name in MEMORY_FIELDS}
    return weights, {**memory_rows, "__metadata__": metadata}


def train_spms(
    train_split: dict[str, Tensor],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    params: dict[str, Any],
    method_runs: int,
    device: str,
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame, dict[str, float]]:
    """The SPM trained ``method_runs`` times (run r: seed ``semi_parametric.seed + r``), each
    with its memory of every training sample (``[M, ...]``); run 0 compared with the same
    encoder trained as a plain classifier (test accuracy of SPM-C, SPM-R and the classifier)."""
    dev = resolve_device(device)
    config = config_of(params)
    requested_sample_ids(params, len(train_split["labels"]))  # fail before training
    images, labels = split_tensors(train_split, dev)
    test = split_tensors(test_split, dev)
    num_classes = int(class_manifest["num_classes"])
    ids = torch.arange(len(labels), device=dev)
    seeds = spm_seeds(params, method_runs)
    # run 0 alone: its training seconds stand next to the classifier's, also trained alone
    trained = train_several(images, labels, class_manifest, config, seeds[:1])
    trained += train_several(images, labels, class_manifest, config, seeds[1:])
    memories = [build_memory(m, images, labels, ids, num_classes) for m, _ in trained]
    classifier = _plain_classifier(images, labels, class_manifest, config, params["seed"], dev)
    rows = _comparison_rows(trained[0], memories[0], classifier, test, config)
    table = pd.DataFrame(rows)
    show_table(
        logger, "SPM against the same encoder as a plain classifier:", table.round(2), index=False
    )
    weights, memory = _stored(trained, memories, config, seeds)
    test_accuracy = {f"spm.test_accuracy.{row['model']}": row["test_accuracy"] for row in rows}
    return weights, memory, table, test_accuracy


def delete_from_memory(
    spm_memory: dict[str, Any], deletions: list[dict[str, Any]]
) -> dict[str, Any]:
    """One new memory per scenario and SPM run (the stored ones are never changed), each timed:
    ``alive [S, M, N]``, ``class_sums [S, M, K, d]``, ``class_counts [S, M, K]``,
    ``seconds [S, M]``."""
    runs = len(spm_memory["labels"])
    memories = [
        memory_from({name: spm_memory[name][r] for name in MEMORY_FIELDS}, torch.device("cpu"))
        for r in range(runs)
    ]
    rows, seconds = [], []
    for plan in deletions:
        ids = torch.tensor(plan["sample_ids"], dtype=torch.long)
        scenario_rows, scenario_seconds = [], []
        for memory in memories:
            start = time.perf_counter()
            deleted = (
                memory.delete_classes(plan["classes"]) if plan["classes"] else memory.delete(ids)
            )
            scenario_seconds.append(time.perf_counter() - start)
            scenario_rows.append(deleted)
        rows.append(scenario_rows)
        seconds.append(scenario_seconds)
        logger.info(
            "SPM: deleted %s (%d samples) in %.2f ms (mean of %d run(s))",
            plan["name"],
            len(ids),
            sum(scenario_seconds) / runs * 1e3,
            runs,
        )

    def stacked(field: str) -> Tensor:
        return torch.stack([torch.stack([getattr(m, field) for m in row]) for row in rows])

    return {
        "alive": stacked("alive"),
        "class_sums": stacked("class_sums"),
        "class_counts": stacked("class_counts"),
        "seconds": torch.tensor(seconds, dtype=torch.float64),
        "__metadata__": {"scenarios": json.dumps([p["name"] for p in deletions])},
    }


def oracle_replica_seeds(
    params: dict[str, Any], num_scenarios: int, method_runs: int = 1
) -> list[list[int]]:
    """Seeds of the retrained SPMs, ``[scenario][run]`` (``seeding.replica_seeds``), apart from
    the SPM runs' and the reference oracles' seeds; none when ``oracle_replicas`` is not set."""
    replicas = params.get("oracle_replicas") or {"runs_per_scenario": 0, "seed": 0}
    taken = set(spm_seeds(params, method_runs))
    taken |= {int(params["oracle_seed"]) + s for s in range(num_scenarios)}
    return replica_seeds(
        replicas,
        "runs_per_scenario",
        num_scenarios,
        taken,
        "the SPM or its oracles",
        "semi_parametric.oracle_replicas",
    )


def retrain_without(  # noqa: PLR0913 (the data, the scenarios, their seeds and where they run)
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    device: str,
    seeds: list[list[int]],
    map_tasks: MapTasks | None = None,
) -> dict[str, Any]:
    """Per scenario s, one SPM retrained from scratch without its deleted samples per seed in
    ``seeds[s]``: ``params [S, J, P]`` and ``seconds [S, J]``; a scenario's SPMs are one task of
    ``map_tasks`` (default: one after another here)."""
    dev = resolve_device(device)
    config = config_of(params)
    images, labels = split_tensors(train_split, dev)
    with torch.device("meta"):  # only its size: no weights drawn, no generator touched
        num_params = sum(p.numel() for p in build_model(config, class_manifest).parameters())
    done = (map_tasks or local_map)(
        _retrain_one_scenario,
        [(plan["sample_ids"], row) for plan, row in zip(deletions, seeds, strict=True)],
        "retrained SPMs",
        images=images.cpu(),
        labels=labels.cpu(),
        device=str(dev),
        class_manifest=class_manifest,
        config=config,
        num_params=num_params,
    )
    return {
        "params": torch.stack([params for params, _ in done]),
        "seconds": torch.stack([seconds for _, seconds in done]),
        "__metadata__": {"scenarios": json.dumps([p["name"] for p in deletions])},
    }


def _retrain_one_scenario(  # noqa: PLR0913 (a task: its scenario and the data it shares)
    scenario: tuple[list[int], list[int]],
    *,
    images: Tensor,
    labels: Tensor,
    device: str,
    class_manifest: dict[str, Any],
    config: SPMConfig,
    num_params: int,
) -> tuple[Tensor, Tensor]:
    """The SPMs of one scenario ``(deleted sample ids, seeds)``: ``[J, P]`` and seconds ``[J]``."""
    sample_ids, seeds = scenario
    images, labels = images.to(device), labels.to(device)
    keep = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
    keep[torch.tensor(sample_ids, dtype=torch.long, device=labels.device)] = False
    trained = train_several(images[keep], labels[keep], class_manifest, config, seeds)
    params = (
        torch.stack([flatten_module(m).cpu() for m, _ in trained])
        if trained
        else torch.empty(0, num_params)
    )
    return params, torch.tensor([spent for _, spent in trained], dtype=torch.float64)


def train_oracles(
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    device: str,
    map_tasks: MapTasks | None = None,
) -> dict[str, Any]:
    """Per scenario, an SPM retrained from scratch without the deleted samples (held-out seed),
    each alone (its seconds are the reference of the SPM's speed-up)."""
    seeds = [[int(params["oracle_seed"]) + s] for s in range(len(deletions))]
    oracles = retrain_without(
        train_split, class_manifest, deletions, params, device, seeds, map_tasks
    )
    return {**oracles, "params": oracles["params"][:, 0], "seconds": oracles["seconds"][:, 0]}


def train_oracle_replicas(
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    device: str,
    method_runs: int = 1,
    map_tasks: MapTasks | None = None,
) -> dict[str, Any]:
    """The SPM's retrained distribution: per scenario, SPMs retrained from scratch without the
    deleted samples with other held-out seeds (``semi_parametric.oracle_replicas``), against
    which the SPM's runs are judged."""
    seeds = oracle_replica_seeds(params, len(deletions), method_runs)
    replicas = retrain_without(
        train_split, class_manifest, deletions, params, device, seeds, map_tasks
    )
    logger.info("SPM: retrained %d more oracle(s) per scenario", len(seeds[0]) if seeds else 0)
    return replicas
