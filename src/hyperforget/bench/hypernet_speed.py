"""``bench sample``: the fast sampler's latency of both DiHyFo variants; ``bench train``: the
seconds of a DiHyFo training step at each precision. Both are sized as in ``--env`` on
freshly initialised or random weights (their cost does not depend on the weights' values)."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

import torch

from hyperforget.bench.common import median_seconds, stage_parameters
from hyperforget.core.devices import resolve_device, synchronize
from hyperforget.core.flat_params import ParamLayout
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
from hyperforget.zoo.plan import REGIMES


def bench_sample(env: str, repeats: int = 5) -> None:
    """Median milliseconds to draw 1 and 32 networks, per variant, guided as unlearning is."""
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
            median = median_seconds(
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
    """Seconds per training step of each variant at each precision, and the speed-up over
    float32."""
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
