"""Smoke tests of the benchmark commands at tiny sizes: they must keep running and print ratios."""

from __future__ import annotations

import torch

from hyperforget import bench


def test_bench_spm_prints_deletion_times_and_the_speed_up(capsys):
    bench.main(["spm", "--env", "test"])
    out = capsys.readouterr().out
    assert "delete one class" in out and "speed-up of class deletion over retraining" in out


def test_bench_sample_prints_both_variants(capsys):
    bench.main(["sample", "--env", "test"])
    out = capsys.readouterr().out
    assert "dihyfo1 (guidance 0):  1 network(s)" in out
    assert "dihyfo2 (guidance 1): 32 network(s)" in out  # guided as the unlearning samples


def test_bench_zoo_prints_the_ratio(capsys):
    bench.main(["zoo", "--runs", "2", "--epochs", "1", "--checkpoints", "2"])
    out = capsys.readouterr().out
    assert "ratio batched / loop" in out


def test_bench_zoo_compares_thread_counts_and_restores_torch_s(capsys):
    before = torch.get_num_threads()
    bench.main(["zoo", "--runs", "2", "--epochs", "1", "--checkpoints", "2", "--threads", "1", "2"])
    headers = [line for line in capsys.readouterr().out.splitlines() if "zoo benchmark" in line]
    assert [h.split(" threads")[0].rsplit(" ", 1)[1] for h in headers] == ["1", "2"]
    assert torch.get_num_threads() == before


def test_bench_train_prints_every_precision_for_both_variants(capsys):
    bench.main(["train", "--env", "test", "--steps", "1"])
    out = capsys.readouterr().out
    for variant in ("dihyfo1", "dihyfo2"):
        line = next(line for line in out.splitlines() if line.strip().startswith(variant))
        assert "float32" in line and "tf32" in line and "bfloat16" in line
