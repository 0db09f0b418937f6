"""``bench spm``: SPM unlearning by deletion from its memory, timed against retraining the SPM
without the deleted samples."""

from __future__ import annotations

import time
from functools import partial

import torch

from hyperforget.bench.common import embedded_splits, median_seconds, stage_parameters
from hyperforget.spm.memory import build_memory
from hyperforget.spm.model import SemiParametric
from hyperforget.spm.train import SPMConfig, train_spm


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
    deletions = [median_seconds(partial(memory.delete_classes, [k]), repeats) for k in range(10)]
    ids = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    sample_wise = median_seconds(partial(memory.delete, ids[: len(labels) // 10]), repeats)
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
