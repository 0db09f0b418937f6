import os
from pathlib import Path


def test_the_versions_of_a_killed_run_are_swept_by_the_next(tmp_path, monkeypatch):
    """SIGKILL runs no hook: the next run removes what the dead process saved, and only that."""
    import json
    import socket
    import subprocess

    from hyperforget.lineage import sweep_killed_runs

    monkeypatch.chdir(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    runs = Path("data/09_runs")
    runs.mkdir(parents=True)
    host = socket.gethostname()
    for version, pid in (
        ("2026-01-01T00.00.00.001Z", gone.pid),
        ("2026-01-01T00.00.00.002Z", os.getpid()),
    ):
        (Path("data/06_models/w.safetensors") / version).mkdir(parents=True)
        (runs / f".{version}.running").write_text(json.dumps({"host": host, "pid": pid}))
    assert sweep_killed_runs() == ["2026-01-01T00.00.00.001Z"]
    assert [p.name for p in Path("data/06_models/w.safetensors").iterdir()] == [
        "2026-01-01T00.00.00.002Z"
    ]
    assert [p.name for p in runs.iterdir()] == [".2026-01-01T00.00.00.002Z.running"]


def test_what_only_a_run_s_own_check_follows_is_no_recipe_of_a_dataset():
    from hyperforget.lineage import _first_difference

    then = {"seed": 0, "leave_out_classes": [], "leave_out_variant": "dihyfo2"}
    now = {**then, "leave_out_classes": [3], "leave_out_variant": "dihyfo1"}
    assert _first_difference(now, then, "evaluation") is None
    assert _first_difference({**now, "seed": 1}, then, "evaluation") == ("evaluation.seed", 1, 0)
