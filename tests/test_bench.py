"""Smoke tests of the benchmark commands at tiny sizes: they must keep running and print ratios."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from hyperforget.bench.carry_over import (
    carry_over_command,
    carry_over_summary,
    competence_summary,
)
from hyperforget.bench.cli import main
from hyperforget.bench.dihyfo_vs_retraining import dihyfo_summary


def test_bench_spm_prints_deletion_times_and_the_speed_up(capsys):
    main(["spm", "--env", "test"])
    out = capsys.readouterr().out
    assert "delete one class" in out and "speed-up of class deletion over retraining" in out


def test_bench_sample_prints_both_variants(capsys):
    main(["sample", "--env", "test"])
    out = capsys.readouterr().out
    assert "dihyfo1 (guidance 0):  1 network(s)" in out
    assert "dihyfo2 (guidance 0): 32 network(s)" in out  # guided as the unlearning samples


def test_bench_zoo_prints_the_ratio(capsys):
    main(["zoo", "--runs", "2", "--epochs", "1", "--checkpoints", "2"])
    out = capsys.readouterr().out
    assert "ratio batched / loop" in out


def test_bench_zoo_compares_thread_counts_and_restores_torch_s(capsys):
    before = torch.get_num_threads()
    main(["zoo", "--runs", "2", "--epochs", "1", "--checkpoints", "2", "--threads", "1", "2"])
    headers = [line for line in capsys.readouterr().out.splitlines() if "zoo benchmark" in line]
    assert [h.split(" threads")[0].rsplit(" ", 1)[1] for h in headers] == ["1", "2"]
    assert torch.get_num_threads() == before


def test_bench_zoo_on_dask_prints_throughput_per_worker_count(capsys):
    pytest.importorskip("distributed")
    main(["zoo", "--backend", "dask", "--workers", "1", "--runs", "2", "--epochs", "1"])
    out = capsys.readouterr().out
    assert "dask, 1 worker(s)" in out and "ratio dask 1 worker(s) / local" in out
    gap = float(out.split("max |dask - local| weight ")[1].split()[0])
    assert gap < 1e-5  # one worker, one shard: the local batch's own runs


def test_bench_zoo_refuses_a_worker_count_below_one():
    with pytest.raises(SystemExit):
        main(["zoo", "--backend", "dask", "--workers", "0"])


def test_bench_train_prints_every_precision_for_both_variants(capsys):
    main(["train", "--env", "test", "--steps", "1"])
    out = capsys.readouterr().out
    for variant in ("dihyfo1", "dihyfo2"):
        line = next(line for line in out.splitlines() if line.strip().startswith(variant))
        assert "float32" in line and "tf32" in line and "bfloat16" in line


def test_carry_over_summary_names_the_classes_a_method_did_not_forget():
    results = pd.DataFrame(
        {
            "method": ["ft", "ft", "ft", "scrub", "scrub", "scrub"],
            "forget_classes": ["0", "1", "2", "0", "1", "2"],
            "forgot": [True, False, True, True, True, True],
            "retrained_reliable": [True, True, True, True, None, False],
            "acc_forget_test": [0.0, 40.0, 1.0, 0.0, 0.0, 0.5],
            "acc_retain_test": [90.0, 92.0, 94.0, 93.0, 93.0, 93.0],
        }
    )
    summary = carry_over_summary(results, "2000").set_index("method")
    assert summary.loc["ft", "not_forgotten"] == "1"
    assert summary.loc["scrub", "not_forgotten"] == "-"
    assert summary.loc["scrub", "unreliable_retraining"] == "2"
    assert summary.loc["ft", "max_forget_test"] == 40.0
    assert summary.loc["ft", "retain_test"] == "92.00 ± 2.26"  # 1.96 * 2 / sqrt(3)
    assert summary.loc["scrub", "retain_test"] == "93.00 ± 0.00"


def test_carry_over_refuses_a_bad_size():
    with pytest.raises(SystemExit):
        main(["carry-over", "--raw-root", ".", "--sizes", "0"])


def test_carry_over_passes_every_parameter_in_one_params_argument():
    command = carry_over_command("kedro", "mnist", "/data", "2000")
    params = command[command.index("--params") + 1 :]
    assert params == ["raw_root=/data,data_preparation.subset=2000"]
    full = carry_over_command("kedro", "mnist", "/data", "full")
    assert full[-1] == "raw_root=/data"
    quick = carry_over_command("kedro", "mnist", "/data", "full", until="original")
    assert quick[-2:] == ["--to-nodes", "model_zoo.train_reference_models"]


def test_carry_over_needs_data_or_sources():
    with pytest.raises(SystemExit):
        main(["carry-over", "--sizes", "full"])
    with pytest.raises(SystemExit):
        main(["carry-over", "--sources", "mnist_upside_down"])


def test_a_stopped_run_reports_the_line_it_stopped_with(tmp_path):
    line = "ValueError: The original reaches 21.7% val accuracy, 75.5 points below a logistic "
    (tmp_path / "info.log").write_text(f"INFO starting\n{line}regression ...\n")
    row = competence_summary(tmp_path, "sklearn_digits_full", 1)
    assert row["status"].startswith("ValueError: The original reaches 21.7%")
    assert competence_summary(tmp_path / "none", "x", 1)["status"].startswith("failed")


def test_dihyfo_summary_gives_relative_f_band_cost_and_break_even():
    rows = []
    for k, (relative, seconds) in enumerate([(0.9, 0.125), (1.0, 0.125), (0.8, 0.125)]):
        rows.append(
            {
                "method": "dihyfo2",
                "forget_classes": str(k),
                "relative_forgetting_quality": relative,
                "acc_retain_test_in_retrained_95": k != 2,
                "forgot": True,
                "seconds": seconds,
            }
        )
        rows.append({"method": "oracle", "forget_classes": str(k), "seconds": 0.25})
    rows.append(
        {
            "method": "dihyfo1",
            "forget_classes": "1+7",
            "relative_forgetting_quality": 0.5,
            "acc_retain_test_in_retrained_95": False,
            "forgot": False,
            "seconds": 0.5,
        }
    )
    rows.append({"method": "oracle", "forget_classes": "1+7", "seconds": 0.25})
    summary = dihyfo_summary(pd.DataFrame(rows), {"dihyfo2": 100.0, "dihyfo1": 50.0})
    two = summary[summary["variant"] == "dihyfo2"].iloc[0]
    assert two["scenarios"] == "one class"
    assert two["relative_F"].startswith("0.900 [")
    assert two["retain_in_band"] == "2/3" and two["forgot"] == "3/3"
    assert two["speedup"] == 2.0
    assert two["break_even_requests"] == 800  # 100 s of training, 0.125 s saved a request
    one = summary[summary["variant"] == "dihyfo1"].iloc[0]
    assert one["scenarios"] == "several classes"
    assert one["break_even_requests"] == "never"  # slower than retraining
    unknown = dihyfo_summary(pd.DataFrame(rows), {})
    assert (unknown.loc[unknown["variant"] == "dihyfo2", "break_even_requests"] == "unknown").all()


def test_bench_dihyfo_without_a_finished_run_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="kedro run --pipeline unlearn"):
        main(["dihyfo", "--project", str(tmp_path)])
