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
from pathlib import Path

import torch

from hyperforget.bench.carry_over import bench_carry_over
from hyperforget.bench.dihyfo_vs_retraining import bench_dihyfo
from hyperforget.bench.hypernet_speed import bench_sample, bench_train
from hyperforget.bench.spm_deletion import bench_spm
from hyperforget.bench.zoo_speed import bench_zoo, bench_zoo_dask
from hyperforget.core.digit_variants import SOURCES
from hyperforget.hypernet.model import VARIANTS


def _add_zoo(sub: argparse._SubParsersAction) -> None:
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


def _add_hypernet_and_spm(sub: argparse._SubParsersAction) -> None:
    sample_parser = sub.add_parser("sample", help="DiHyFo fast-sampler latency")
    sample_parser.add_argument("--env", default="base", help="Kedro environment of the sizes")
    train_parser = sub.add_parser("train", help="DiHyFo training step time per precision")
    train_parser.add_argument("--env", default="base", help="Kedro environment of the sizes")
    train_parser.add_argument("--steps", type=int, default=5)
    spm_parser = sub.add_parser("spm", help="SPM deletion time against retraining the SPM")
    spm_parser.add_argument("--env", default="base", help="Kedro environment of the sizes")


def _add_dihyfo(sub: argparse._SubParsersAction) -> None:
    dihyfo_parser = sub.add_parser(
        "dihyfo", help="DiHyFo against retraining on a finished run: relative F, cost"
    )
    dihyfo_parser.add_argument("--project", type=Path, default=Path("."))
    dihyfo_parser.add_argument(
        "--leave-out", type=int, nargs="+", default=[], help="classes for the leave-out check"
    )
    dihyfo_parser.add_argument("--variant", choices=VARIANTS, default="dihyfo2")
    dihyfo_parser.add_argument("--env", default="base", help="Kedro environment of the run")


def _add_carry_over(sub: argparse._SubParsersAction) -> None:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hyperforget.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="bench", required=True)
    _add_zoo(sub)
    _add_hypernet_and_spm(sub)
    _add_dihyfo(sub)
    _add_carry_over(sub)
    return parser


def _carry_over(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    bad = [s for s in args.sizes if s != "full" and not (s.isdigit() and int(s) > 0)]
    if bad:
        parser.error(f"--sizes takes positive digit counts or full, got {bad}")
    if args.raw_root is None and not args.sources:
        parser.error("carry-over needs --raw-root (a torchvision root), --sources, or both")
    bench_carry_over(args.sizes, args.env, args.raw_root, args.out, args.sources, args.until)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark ``argv`` names (``sys.argv`` by default)."""
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
