"""Benchmarks that print measured ratios (speed targets live here, not in timed tests).

    uv run python -m hyperforget.bench zoo [--runs 64] [--epochs 5] [--checkpoints 6]
        [--env base] [--input-dtype float32|bfloat16] [--threads 1 2 ...]
    uv run python -m hyperforget.bench zoo --backend dask [--workers 1 2 ...] [--runs 64]
    uv run python -m hyperforget.bench sample [--env base]
    uv run python -m hyperforget.bench train [--env base] [--steps 5]
    uv run python -m hyperforget.bench spm [--env base]
    uv run python -m hyperforget.bench dihyfo [--project .] [--leave-out 0 1 ...]
        [--variant dihyfo2] [--env base]
    uv run python -m hyperforget.bench carry-over [--raw-root DIR] [--sizes 2000 10000 full]
        [--sources mnist shifted rotated thick inverted sklearn_digits]
        [--until original|results] [--env mnist] [--out data/carry_over]

``zoo`` trains the same ``learn`` runs (same seeds, data subsets and minibatch orders, same SGD
recipe and input precision: ``model_zoo.training`` and ``zoo_input_dtype`` of ``--env``) three
ways and reports checkpoints per second, each checkpoint evaluated per class on the val split:
* batched: ``training.train_batched``, all runs at once;
* loop: ``training.train_single``, one plain ``nn.Module`` after another, same batches;
* loop + DataLoader: the usual training script, a shuffled ``DataLoader`` per run.
``--threads`` repeats the whole comparison at each CPU thread count: the batched trainer's large
matmuls use every core, the loops' small ones barely more than one, so the ratio grows with cores.

``zoo --backend dask`` trains those ``learn`` runs as ``compute.backend: dask`` does, on a
``LocalCluster`` of each ``--workers`` count (one thread per worker, the runs cut into that many
tasks), and prints runs per second, the speed-up over the first count and over the local
backend, and the largest weight difference from the local backend's.

``sample`` times the fast sampler of both DiHyFo variants, sized as in
``conf/<env>/parameters_hypernetwork.yml`` and guided as in ``parameters_unlearning.yml``,
drawing 1 and 32 networks for the default MLP
(sampling cost does not depend on the trained weights, so freshly initialised models are used).

``train`` times DiHyFo training steps (``hypertrain.train_hypernetwork``: batch, denoiser,
AdamW, EMA) at each ``hypernetwork.training.precision``, sized as in ``--env``, on a synthetic
zoo of the default MLP's shape, on the device ``auto`` picks, and prints each precision's
speed-up over float32 (on the CPU, ``tf32`` is float32).

``spm`` trains the SPM of ``conf/<env>/parameters_semi_parametric.yml`` on the embedded MNIST,
then times deleting each class and a random 10% of the samples from its memory, against
retraining it without class 0.

``dihyfo`` reads a finished run (``data/08_reporting/results.csv`` and the newest DiHyFo weight
files of ``--project``) and prints, per variant and kind of scenario (one class; several), the
mean relative forgetting quality with its 95% CI over the scenarios, how many scenarios keep the
retain-test mean inside the retrained central 95% range and were forgotten, the seconds of one
request against retraining one network, and the break-even: after how many requests the
hypernetwork's training time is paid back by answering them faster than retraining (the zoo's
own training is not counted). ``--leave-out K ...`` also runs the leave-one-class-out check
(``evaluation/leave_out.py``) for each class K on that run's data: the variant trained on the zoo
without class K's runs, asked to forget K, scored against the networks retrained without K
(minutes per class: a hypernetwork is trained each time).

``carry-over`` checks that the defaults carry over from one data size, and one kind of digit, to
another: for each source and size it runs ``kedro run --pipelines unlearn --env <env>`` in its own
project folder under ``--out`` on a stratified subset of that many training digits
(``data_preparation.subset``; ``full``: all of them; the official test digits are the test split
at every size). The sources (``core/digit_variants.py``) are built once under ``--out/sources``
from the MNIST of ``--raw-root`` (a torchvision root; without one, the embedded 5,000 digits):
``mnist`` itself (``--raw-root`` read directly), ``shifted`` (up to 4 pixels), ``rotated``
(up to 45 degrees), ``thick`` (strokes dilated by a pixel), ``inverted``, and
``sklearn_digits`` (scikit-learn's 1,797 8x8 digits upscaled, always at full size). It prints,
per run, the learning rate the run chose, the original's val accuracy against the in-run
logistic-regression reference (or the line a run stopped with: ``model_zoo.competence``), then
per method the classes it did not forget (the results table's ``forgot``), the scenarios whose
retrained distribution is unreliable, and each method's mean retain-test accuracy with its 95%
CI over the scenarios. ``--until original`` stops each run after the checked original
(minutes), skipping the forgetting part. It is a check to run by hand (a full-MNIST size takes
about an hour on 2 CPU cores), not a test.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hyperforget.core import data
from hyperforget.core.compute import ComputeConfig, tasks
from hyperforget.core.devices import resolve_device, synchronize
from hyperforget.core.digit_variants import SOURCES
from hyperforget.core.flat_params import ParamLayout, flatten_module, load_flat_into
from hyperforget.core.per_class import evaluate_per_class, per_class_from_logits
from hyperforget.core.targets import build_target
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import VARIANTS, DiHyFo, DiHyFoConfig
from hyperforget.hypernet.train import (
    PRECISIONS,
    HyperTrainConfig,
    ZooSet,
    sample_params,
    train_hypernetwork,
)
from hyperforget.spm.memory import build_memory
from hyperforget.spm.model import SemiParametric
from hyperforget.spm.train import SPMConfig, train_spm
from hyperforget.zoo.plan import (
    REGIMES,
    checkpoint_steps,
    data_indices,
    initial_params,
    plan_runs,
)
from hyperforget.zoo.runs import train_regime
from hyperforget.zoo.training import batch_schedule, train_batched, train_single, zoo_sgd


def embedded_splits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The default data of the pipeline (embedded MNIST, 70/10/20, the train split's
    statistics)."""
    mnist = data.load_embedded_mnist()
    fractions = {"train": 0.7, "val": 0.1, "test": 0.2}
    indices = data.stratified_split(mnist.labels, fractions, seed=0)
    mean, std = data.channel_stats(mnist.images[indices["train"]])
    return {
        name: (data.normalise(mnist.images[idx], mean, std), mnist.labels[idx])
        for name, idx in indices.items()
    }


def bench_zoo(runs: int, epochs: int, checkpoints: int, env: str, input_dtype: str | None) -> None:  # noqa: PLR0915 (one benchmark, read top to bottom)
    splits = embedded_splits()
    (images, labels), (val_images, val_labels) = splits["train"], splits["val"]
    build = partial(build_target, (1, 28, 28), 10, (10,))
    module = build()
    sgd = zoo_sgd(stage_parameters("model_zoo", env), input_dtype)
    specs = plan_runs({"learn": {"runs": runs}}, 10, base_seed=1000)
    seeds = [s.seed for s in specs]
    subsets = [data_indices(labels, None, 0.8, s)[0] for s in seeds]
    steps = epochs * (len(subsets[0]) // sgd.batch_size)
    at = checkpoint_steps(steps, checkpoints)
    batches = batch_schedule(subsets, seeds, sgd.batch_size, steps)
    init = initial_params(build, seeds)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # warm-up: lazy imports
    n_ckpt = runs * len(at)

    start = time.perf_counter()
    batched = train_batched(module, init, images, labels, batches, sgd, at)
    evaluate_per_class(module, batched.flatten(0, 1), val_images, val_labels, 10)
    t_batched = time.perf_counter() - start

    def evaluate_alone(params: torch.Tensor) -> None:
        with torch.no_grad():
            logits = load_flat_into(build(), params)(val_images)
        per_class_from_logits(logits[None], val_labels, 10)

    start = time.perf_counter()
    looped = []
    for r in range(runs):
        ckpts = train_single(build(), init[r], images, labels, batches[r], sgd, at)
        for params in ckpts:
            evaluate_alone(params)
        looped.append(ckpts)
    t_loop = time.perf_counter() - start
    gap = (torch.stack(looped) - batched).abs().max().item()

    start = time.perf_counter()
    for r in range(runs):
        net = load_flat_into(build(), init[r])
        optimizer = sgd.optimizer(net.parameters())
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        loader = DataLoader(
            TensorDataset(sgd.inputs(images[subsets[r]]), labels[subsets[r]]),
            batch_size=sgd.batch_size,
            shuffle=True,
            drop_last=True,
            generator=torch.Generator().manual_seed(seeds[r]),
        )
        step = 0
        evaluate_alone(flatten_module(net))
        while step < steps:
            for x, y in loader:
                loss = F.cross_entropy(net(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                if step in at:
                    evaluate_alone(flatten_module(net))
                if step == steps:
                    break
    t_loader = time.perf_counter() - start

    print(
        f"zoo benchmark: {runs} runs x {steps} steps, {len(at)} checkpoints per run, "
        f"{torch.get_num_threads()} threads, device cpu, {sgd.input_dtype} inputs ({env} config)"
    )
    print(f"  batched             {n_ckpt / t_batched:8.1f} checkpoints/s ({t_batched:.2f} s)")
    print(f"  loop                {n_ckpt / t_loop:8.1f} checkpoints/s ({t_loop:.2f} s)")
    print(f"  loop + DataLoader   {n_ckpt / t_loader:8.1f} checkpoints/s ({t_loader:.2f} s)")
    print(f"  ratio batched / loop               {t_loop / t_batched:6.2f}")
    print(f"  ratio batched / loop + DataLoader  {t_loader / t_batched:6.2f}")
    print(f"  max |batched - loop| weight difference: {gap:.2e}")


def bench_zoo_dask(runs: int, epochs: int, checkpoints: int, env: str, workers: list[int]) -> None:
    """The zoo's learn runs trained as on ``compute.backend: dask``, a ``LocalCluster`` of each
    worker count (one thread each; the regime cut into that many tasks), against the local
    backend (one batch, torch's threads): runs per second of training alone. Each way trains
    the runs twice and only the second is timed: the first pays the cluster's start, each
    worker's imports and first data transfer, and torch's lazy set-up."""
    (images, labels) = embedded_splits()["train"]
    build = partial(build_target, (1, 28, 28), 10, (10,))
    sgd = zoo_sgd(stage_parameters("model_zoo", env))
    specs = plan_runs({"learn": {"runs": runs}}, 10, base_seed=1000)
    init = initial_params(build, [s.seed for s in specs])
    recipe = {"sgd": sgd, "epochs": epochs, "checkpoints": checkpoints, "fraction": 0.8}

    train_regime(build, specs, images, labels, init, recipe, None)  # warm-up
    start = time.perf_counter()
    local = train_regime(build, specs, images, labels, init, recipe, None)
    t_local = time.perf_counter() - start
    print(
        f"zoo on dask: {runs} learn runs x {local.steps[-1]} steps ({env} config), "
        f"{torch.get_num_threads()} torch threads locally, one per worker"
    )
    print(f"  local (one batch)   {runs / t_local:8.2f} runs/s ({t_local:.2f} s)")
    timed = {}
    for n in workers:
        config = ComputeConfig(backend="dask", address=None, workers=n, connect_timeout=10)
        with tasks(config) as map_tasks:
            cut_up = (build, specs, images, labels, init, recipe, "bench zoo", map_tasks, n)
            train_regime(*cut_up)  # warm-up
            start = time.perf_counter()
            cut = train_regime(*cut_up)
            timed[n] = time.perf_counter() - start
        gap = (cut.params - local.params).abs().max().item()
        print(
            f"  dask, {n} worker(s)  {runs / timed[n]:8.2f} runs/s ({timed[n]:.2f} s), "
            f"max |dask - local| weight {gap:.1e}"
        )
    first = workers[0]
    for n in workers[1:]:
        print(f"  speed-up {n} / {first} worker(s)   {timed[first] / timed[n]:6.2f}")
    for n in workers:
        print(f"  ratio dask {n} worker(s) / local  {t_local / timed[n]:6.2f}")


def stage_parameters(stage: str, env: str) -> dict:
    """Parameters of ``stage`` as ``kedro run --env <env>`` sees them: the project's own config
    loader and settings (``base`` is a run without ``--env``)."""
    from hyperforget import settings

    conf = Path(__file__).resolve().parents[2] / "conf"
    run_env = None if env == "base" else env
    loader = settings.CONFIG_LOADER_CLASS(str(conf), env=run_env, **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"][stage]


def _median_seconds(work, repeats: int) -> float:
    """Median wall-clock seconds of ``work()`` over ``repeats`` calls, after one warm-up call."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[repeats // 2]


def bench_spm(env: str, repeats: int = 20) -> None:
    """SPM unlearning by deletion against retraining the SPM without the deleted samples."""
    params = stage_parameters("semi_parametric", env)
    config = SPMConfig.of(params)
    (images, labels) = embedded_splits()["train"]
    torch.manual_seed(0)
    model = SemiParametric((1, 28, 28), tuple(config.hidden), config.embed_dim, config.encoder)
    train_spm(model, images, labels, 10, config, torch.Generator().manual_seed(0))
    memory = build_memory(model, images, labels, torch.arange(len(labels)), 10)
    print(
        f"SPM benchmark ({env} config, {len(labels)} training samples, "
        f"{torch.get_num_threads()} threads, device cpu): median of {repeats}"
    )
    deletions = [_median_seconds(partial(memory.delete_classes, [k]), repeats) for k in range(10)]
    ids = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    sample_wise = _median_seconds(partial(memory.delete, ids[: len(labels) // 10]), repeats)
    keep = labels != 0
    torch.manual_seed(1)
    retrain_model = SemiParametric(
        (1, 28, 28), tuple(config.hidden), config.embed_dim, config.encoder
    )
    start = time.perf_counter()
    train_spm(
        retrain_model, images[keep], labels[keep], 10, config, torch.Generator().manual_seed(1)
    )
    retrain = time.perf_counter() - start
    print(f"  delete one class        {min(deletions) * 1e3:7.3f} to {max(deletions) * 1e3:.3f} ms")
    print(f"  delete a random 10%     {sample_wise * 1e3:7.3f} ms")
    print(f"  retrain without class 0 {retrain * 1e3:7.0f} ms")
    print(f"  speed-up of class deletion over retraining {retrain / max(deletions):8.0f}x (worst)")


def bench_sample(env: str, repeats: int = 5) -> None:
    params = stage_parameters("hypernetwork", env)
    methods = stage_parameters("unlearning", env)["methods"]
    layout = ParamLayout.from_module(build_target((1, 28, 28), 10, (10,)))
    diffusion = GaussianDiffusion(**params["diffusion"])
    steps = int(params["sampler"]["steps"])
    print(
        f"sampling benchmark ({env} config, DDIM {steps} steps, {torch.get_num_threads()} "
        "threads, device cpu): median of "
        f"{repeats}"
    )
    for variant in VARIANTS:
        net = DiHyFo(layout, 10, DiHyFoConfig.of(variant, params["model"])).eval()
        # with guidance, as unlearning samples: two denoiser passes per step
        guidance = float(methods.get(variant, {}).get("guidance", 0.0))
        for count in (1, 32):
            target = torch.rand(count, 10)
            current = torch.randn(count, layout.num_params) if net.residual else None
            current_loss = torch.rand(count, 10) if net.residual else None
            generator = torch.Generator().manual_seed(0)
            median = _median_seconds(
                partial(
                    sample_params,
                    net,
                    diffusion,
                    target,
                    generator,
                    current,
                    current_loss,
                    steps=steps,
                    guidance=guidance,
                    reference_loss=torch.rand(count, 10),
                ),
                repeats,
            )
            print(
                f"  {variant} (guidance {guidance:g}): {count:2d} network(s) in "
                f"{median * 1e3:7.1f} ms"
            )


def synthetic_zoo(layout: ParamLayout, runs: int, checkpoints: int, num_classes: int) -> ZooSet:
    """Random checkpoints with the shapes of a zoo: the cost of a training step does not
    depend on the weights' values."""
    generator = torch.Generator().manual_seed(0)
    rows = runs * checkpoints
    run_ids = torch.arange(runs).repeat_interleave(checkpoints)
    return ZooSet(
        params=0.1 * torch.randn(rows, layout.num_params, generator=generator),
        losses=torch.rand(rows, num_classes, generator=generator),
        run_last=run_ids * checkpoints + checkpoints - 1,
        run_ids=run_ids,
        # every regime of the zoo, run by run, so that each variant finds its own
        regimes=tuple(REGIMES[r % len(REGIMES)] for r in run_ids.tolist()),
    )


def bench_train(env: str, steps: int) -> None:
    params = stage_parameters("hypernetwork", env)
    device = resolve_device("auto")
    layout = ParamLayout.from_module(build_target((1, 28, 28), 10, (10,)))
    diffusion = GaussianDiffusion(**params["diffusion"])
    zoo_set = synthetic_zoo(layout, runs=16, checkpoints=11, num_classes=10)
    batch_size = int(params["training"]["batch_size"])
    print(
        f"DiHyFo training benchmark ({env} config, batch {batch_size}, {device}, "
        f"{torch.get_num_threads()} threads): seconds per step, mean of {steps} after 2"
    )
    for variant in VARIANTS:
        per_step = {}
        for precision in PRECISIONS:
            torch.manual_seed(0)
            net = DiHyFo(layout, 10, DiHyFoConfig.of(variant, params["model"]))

            def train(count: int, net=net, precision=precision, variant=variant) -> None:
                config = replace(
                    HyperTrainConfig.for_variant(params, variant),
                    steps=count,
                    batch_size=batch_size,
                    precision=precision,
                    log_every=count,
                )
                train_hypernetwork(net, diffusion, zoo_set, config, seed=0, device=device)
                synchronize(device)

            train(2)  # warm-up: kernels, allocator, first optimiser state
            start = time.perf_counter()
            train(steps)
            per_step[precision] = (time.perf_counter() - start) / steps
            del net
        line = "  ".join(
            f"{name} {seconds:.3f} s ({per_step['float32'] / seconds:.1f}x)"
            for name, seconds in per_step.items()
        )
        print(f"  {variant}: {line}")


def carry_over_project(out: Path, name: str) -> Path:
    """A project folder of its own for one run (a source at a size): the configuration copied
    (without conf/local), so each run's versions, MLflow runs and reports stay apart."""
    import shutil

    root = Path(__file__).resolve().parents[2]
    project = out / name
    project.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        root / "conf", project / "conf", ignore=shutil.ignore_patterns("local"), dirs_exist_ok=True
    )
    (project / "conf" / "local").mkdir(exist_ok=True)
    shutil.copy(root / "pyproject.toml", project / "pyproject.toml")
    (project / "src").mkdir(exist_ok=True)  # Kedro wants one; the package is installed
    return project


def carry_over_summary(results, size: str):
    """One row per method of a run's results table: the classes it did not forget, the
    scenarios with an unreliable retrained distribution, its mean retain-test accuracy and
    the 95% CI of that mean over the scenarios."""
    import pandas as pd

    rows = []
    for method, table in results.groupby("method", sort=False):
        retain = table["acc_retain_test"].astype(float)
        half = 1.96 * retain.std(ddof=1) / len(retain) ** 0.5 if len(retain) > 1 else 0.0
        not_forgotten = table.loc[~table["forgot"].astype(bool), "forget_classes"]
        unreliable = table.loc[
            ~table["retrained_reliable"].fillna(True).astype(bool), "forget_classes"
        ]
        rows.append(
            {
                "size": size,
                "method": method,
                "not_forgotten": " ".join(map(str, not_forgotten)) or "-",
                "unreliable_retraining": " ".join(map(str, unreliable)) or "-",
                "max_forget_test": float(table["acc_forget_test"].max()),
                "retain_test": f"{retain.mean():.2f} ± {half:.2f}",
            }
        )
    return pd.DataFrame(rows)


def _newest(path: Path) -> Path:
    """The newest version of a versioned dataset folder."""
    return sorted(path.iterdir())[-1] / path.name


def competence_summary(project: Path, run: str, returncode: int) -> dict:
    """What a run found about its original: the learning rate it chose, the original's and the
    logistic-regression reference's val accuracy and their gap; for a run that stopped, the
    line that says why."""
    import json

    from hyperforget.datasets import SafetensorsDataset

    row = {"run": run, "lr": float("nan"), "original_val": float("nan")}
    recipes = project / "data" / "05_model_input" / "training_recipe.json"
    originals = project / "data" / "06_models" / "original_weights.safetensors"
    if returncode == 0 and recipes.is_dir() and originals.is_dir():
        chosen = json.loads(_newest(recipes).read_text())
        original = SafetensorsDataset(filepath=str(_newest(originals))).load()
        accuracy = float(original["val_accuracy"][0])
        reference = float(original["reference_val_accuracy"][0])
        poor = json.loads(original["__metadata__"]["poor_original"])
        return {
            "run": run,
            "lr": chosen["lr"],
            "original_val": accuracy,
            "reference_val": reference,
            "gap": reference - accuracy,
            "status": "poor original (marked)" if poor else "competent",
        }
    log = project / "info.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    reasons = [line.strip() for line in lines if "points below a logistic regression" in line]
    status = reasons[-1][:160] if reasons else f"failed (exit {returncode}); see {log}"
    return {**row, "reference_val": float("nan"), "gap": float("nan"), "status": status}


def carry_over_command(  # noqa: PLR0913 (one run's data, size and extent)
    kedro: str, env: str, raw_root: str, size: str, until: str = "results"
) -> list[str]:
    """The unlearn run of one source at one size (``until original``: only as far as the
    checked original). Kedro's ``--params`` takes one argument, its pairs separated by commas."""
    params = [f"raw_root={Path(raw_root).resolve()}"]
    if size != "full":
        params.append(f"data_preparation.subset={int(size)}")
    command = [kedro, "run", "--pipelines", "unlearn", "--env", env, "--params", ",".join(params)]
    return command + (["--to-nodes", "train_reference_models"] if until == "original" else [])


def carry_over_roots(sources: list[str], raw_root: str | None, out: Path) -> dict[str, str]:
    """The torchvision root each source is read from: ``--raw-root`` itself for ``mnist`` when
    given, else a folder under ``out/sources`` written by ``digit_variants.build_source`` from
    the MNIST of ``--raw-root`` (or the embedded sample)."""
    from hyperforget.core import data, digit_variants

    roots = {}
    base = None
    for source in sources:
        if source == "mnist" and raw_root is not None:
            roots[source] = raw_root
            continue
        if base is None and source != "sklearn_digits":
            base = (
                data.load_idx_dataset("MNIST", raw_root) if raw_root else data.load_embedded_mnist()
            )
        root = out / "sources" / source
        if not (root / "MNIST" / "raw").is_dir():
            digit_variants.build_source(source, base, root)
        roots[source] = str(root)
    return roots


def bench_carry_over(  # noqa: PLR0913 (what to run, where from, how far)
    sizes: list[str],
    env: str,
    raw_root: str | None,
    out: Path,
    sources: list[str] | None = None,
    until: str = "results",
) -> None:
    import os
    import subprocess
    import sys

    import pandas as pd

    kedro = str(Path(sys.executable).with_name("kedro"))
    roots = carry_over_roots(sources or ["mnist"], raw_root, out)
    summaries, competence = [], []
    for source, root in roots.items():
        for size in sizes if source != "sklearn_digits" else ["full"]:
            run = f"{source}_{size}"
            project = carry_over_project(out, run)
            command = carry_over_command(kedro, env, root, size, until)
            print(f"[{run}] {' '.join(command)}  (in {project})", flush=True)
            start = time.perf_counter()
            done = subprocess.run(
                command, cwd=project, env={**os.environ, "COLUMNS": "200"}, check=False
            )
            took = time.perf_counter() - start
            competence.append(competence_summary(project, run, done.returncode))
            if done.returncode != 0:
                print(f"[{run}] kedro run stopped (exit {done.returncode}); see {project}/info.log")
                continue
            if until == "results":
                results = pd.read_csv(project / "data" / "08_reporting" / "results.csv")
                summaries.append(carry_over_summary(results, run))
            print(f"[{run}] done in {took / 60:.1f} min", flush=True)
    checked = pd.DataFrame(competence)
    print("\nThe original against a logistic regression on the same pixels (val accuracy, %):")
    print(checked.round(2).to_string(index=False))
    checked.to_csv(out / "competence.csv", index=False)
    print(f"Saved {out / 'competence.csv'}")
    if not summaries:
        return
    table = pd.concat(summaries, ignore_index=True)
    print("\nClasses each method did not forget, per run (- = none):")
    print(table.pivot(index="method", columns="size", values="not_forgotten").to_string())
    print("\nScenarios whose retrained distribution is unreliable (- = none):")
    print(table.pivot(index="method", columns="size", values="unreliable_retraining").to_string())
    print("\nMean retain-test accuracy (95% CI over the scenarios):")
    print(table.pivot(index="method", columns="size", values="retain_test").to_string())
    table.to_csv(out / "carry_over.csv", index=False)
    print(f"\nSaved {out / 'carry_over.csv'}")


def _scenario_kind(name: str) -> str:
    return "random" if name.startswith("random") else "several" if "+" in name else "one"


def dihyfo_summary(results, train_seconds: dict[str, float]):
    """Per DiHyFo variant and scenario kind: relative F (mean, CI), band, forgot, seconds per
    request, retraining's seconds, speed-up and break-even request count."""
    import math

    import pandas as pd

    from hyperforget.evaluation.intervals import mean_ci

    results = results.assign(kind=results["forget_classes"].astype(str).map(_scenario_kind))
    rows = []
    for (method, kind), group in results[results["method"].isin(VARIANTS)].groupby(
        ["method", "kind"]
    ):
        oracle = results[(results["method"] == "oracle") & (results["kind"] == kind)]
        relative = mean_ci(group["relative_forgetting_quality"].to_numpy())
        seconds, retrain = float(group["seconds"].mean()), float(oracle["seconds"].mean())
        saved = retrain - seconds
        trained = train_seconds.get(method, math.nan)
        if saved <= 0:
            break_even: int | str = "never"
        elif math.isnan(trained):
            break_even = "unknown"  # weights written before they recorded their seconds
        else:
            break_even = math.ceil(trained / saved)
        rows.append(
            {
                "variant": method,
                "scenarios": f"{kind} class" if kind == "one" else f"{kind} classes",
                "relative_F": f"{relative.mean:.3f} [{relative.low:.3f}, {relative.high:.3f}]",
                "retain_in_band": f"{int(group['acc_retain_test_in_retrained_95'].sum())}"
                f"/{len(group)}",
                "forgot": f"{int(group['forgot'].sum())}/{len(group)}",
                "s_per_request": round(seconds, 4),
                "s_retrain_one": round(retrain, 4),
                "speedup": round(retrain / seconds, 2) if seconds > 0 else math.nan,
                "train_s": round(trained, 1),
                "break_even_requests": break_even,
            }
        )
    return pd.DataFrame(rows)


def leave_out_table(project: Path, env: str, variant: str, classes: list[int]):
    """The leave-one-class-out check on the newest run of ``env`` in ``project``."""
    import pandas as pd
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from hyperforget.core.targets import target_builder
    from hyperforget.evaluation.leave_out import LeaveOut, leave_one_out

    bootstrap_project(project.resolve())
    with KedroSession.create(project.resolve(), env=None if env == "base" else env) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        manifest = catalog.load("class_manifest")
        scenarios = [s["name"] for s in catalog.load("forget_scenarios")]
        retrained = catalog.load("retrained_weights")["params"]
        splits = {
            name: tuple(catalog.load(f"{name}_split")[key] for key in ("images", "labels"))
            for name in ("train", "val", "test")
        }
        check = LeaveOut(
            build=target_builder(params["model"], manifest),
            num_classes=int(manifest["num_classes"]),
            zoo_params=catalog.load("zoo_weights")["params"],
            zoo_table=catalog.load("zoo_checkpoints"),
            original=catalog.load("original_weights")["params"].flatten(),
            retrained=dict(zip(scenarios, retrained, strict=True)),
            splits=splits,
            hypernetwork=params["hypernetwork"],
            sampling=params["unlearning"]["methods"][variant],
            evaluation=params["evaluation"],
        )
    missing = [k for k in classes if str(k) not in check.retrained]
    if missing:
        raise SystemExit(
            f"The run has no retrained models for classes {missing}: pick classes of its "
            f"forget scenarios {scenarios}."
        )
    rows = [leave_one_out(check, variant, k, scenarios.index(str(k))) for k in classes]
    return pd.DataFrame(rows)


def bench_dihyfo(project: Path, env: str, variant: str, leave_out: list[int]) -> None:
    import pandas as pd
    from safetensors import safe_open

    path = project / "data/08_reporting/results.csv"
    if not path.exists():
        raise SystemExit(
            f"No results table at {path}: run `uv run kedro run --pipeline unlearn` first."
        )
    train_seconds = {}
    for name in VARIANTS:
        versions = project / f"data/06_models/{name}_ema_weights.safetensors"
        if versions.is_dir() and any(versions.iterdir()):
            with safe_open(str(_newest(versions)), "pt") as handle:
                if "seconds" in handle.keys():
                    train_seconds[name] = float(handle.get_tensor("seconds")[0])
    summary = dihyfo_summary(pd.read_csv(path), train_seconds)
    if summary.empty:
        raise SystemExit(f"{path} has no dihyfo1 or dihyfo2 rows: was unlearning.run limited?")
    print(f"DiHyFo on the run in {path} (train_s: the hypernetwork's training, newest weights)")
    print(summary.to_string(index=False))
    if leave_out:
        table = leave_out_table(project, env, variant, leave_out)
        print(f"\n{variant} trained without each class's zoo runs, asked to forget it:")
        print(table.round(3).to_string(index=False))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hyperforget.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="bench", required=True)
    zoo_parser = sub.add_parser("zoo", help="batched vs looped zoo training throughput")
    zoo_parser.add_argument("--runs", type=int, default=64)
    zoo_parser.add_argument("--epochs", type=int, default=5)
    zoo_parser.add_argument("--checkpoints", type=int, default=6)
    zoo_parser.add_argument("--env", default="base", help="Kedro environment of the SGD recipe")
    zoo_parser.add_argument(
        "--input-dtype",
        choices=["float32", "bfloat16"],
        help="override model_zoo.zoo_input_dtype (all three ways use the same)",
    )
    zoo_parser.add_argument(
        "--threads", type=int, nargs="+", help="CPU thread counts to compare (default: torch's)"
    )
    zoo_parser.add_argument(
        "--backend",
        choices=["local", "dask"],
        default="local",
        help="dask: the runs on a LocalCluster of each --workers count, against local",
    )
    zoo_parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts (--backend dask)"
    )
    sample_parser = sub.add_parser("sample", help="DiHyFo fast-sampler latency")
    sample_parser.add_argument("--env", default="base", help="Kedro environment of the sizes")
    train_parser = sub.add_parser("train", help="DiHyFo training step time per precision")
    train_parser.add_argument("--env", default="base", help="Kedro environment of the sizes")
    train_parser.add_argument("--steps", type=int, default=5)
    spm_parser = sub.add_parser("spm", help="SPM deletion time against retraining the SPM")
    spm_parser.add_argument("--env", default="base", help="Kedro environment of the sizes")
    dihyfo_parser = sub.add_parser(
        "dihyfo", help="DiHyFo against retraining on a finished run: relative F, cost"
    )
    dihyfo_parser.add_argument("--project", type=Path, default=Path("."))
    dihyfo_parser.add_argument(
        "--leave-out", type=int, nargs="+", default=[], help="classes for the leave-out check"
    )
    dihyfo_parser.add_argument("--variant", choices=VARIANTS, default="dihyfo2")
    dihyfo_parser.add_argument("--env", default="base", help="Kedro environment of the run")
    carry_parser = sub.add_parser(
        "carry-over",
        help="per digit source and size: the original against a reference, what is not forgotten",
    )
    carry_parser.add_argument(
        "--raw-root", default=None, help="torchvision root holding MNIST/raw/*.gz"
    )
    carry_parser.add_argument(
        "--sources",
        nargs="+",
        choices=SOURCES,
        default=None,
        help="digit sources built from that MNIST (default: mnist, from --raw-root)",
    )
    carry_parser.add_argument(
        "--until",
        choices=["original", "results"],
        default="results",
        help="original: each run stops after the checked original (minutes, not an hour)",
    )
    carry_parser.add_argument(
        "--sizes", nargs="+", default=["2000", "10000", "full"], help="digits per run, or full"
    )
    carry_parser.add_argument("--env", default="mnist", help="Kedro environment of the runs")
    carry_parser.add_argument("--out", type=Path, default=Path("data/carry_over"))
    return parser


def _carry_over(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    bad = [s for s in args.sizes if s != "full" and not (s.isdigit() and int(s) > 0)]
    if bad:
        parser.error(f"--sizes takes positive digit counts or full, got {bad}")
    if args.raw_root is None and not args.sources:
        parser.error("carry-over needs --raw-root (a torchvision root), --sources, or both")
    bench_carry_over(args.sizes, args.env, args.raw_root, args.out, args.sources, args.until)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.bench == "carry-over":
        _carry_over(parser, args)
        return
    if args.bench == "dihyfo":
        bench_dihyfo(args.project, args.env, args.variant, args.leave_out)
        return
    if args.bench == "zoo" and any(n < 1 for n in args.threads or []):
        parser.error(f"--threads takes positive thread counts, got {args.threads}")
    if args.bench == "zoo" and args.backend == "dask":
        if any(n < 1 for n in args.workers):
            parser.error(f"--workers takes positive worker counts, got {args.workers}")
        bench_zoo_dask(args.runs, args.epochs, args.checkpoints, args.env, args.workers)
    elif args.bench == "zoo":
        default_threads = torch.get_num_threads()
        try:
            for threads in args.threads or [default_threads]:
                torch.set_num_threads(threads)
                bench_zoo(args.runs, args.epochs, args.checkpoints, args.env, args.input_dtype)
        finally:
            torch.set_num_threads(default_threads)
    elif args.bench == "spm":
        bench_spm(args.env)
    elif args.bench == "train":
        bench_train(args.env, args.steps)
    else:
        bench_sample(args.env)


if __name__ == "__main__":
    main()
