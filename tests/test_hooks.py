import subprocess

from hyperforget.hooks import git_state


def test_git_state_names_the_commit_and_a_dirty_tree(tmp_path):
    assert git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.strip()
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": "False"}
    (tmp_path / "a.txt").write_text("two")
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": "True"}
    (tmp_path / "untracked.txt").write_text("ignored")  # untracked files do not count
    git("checkout", "a.txt")
    assert git_state(tmp_path)["git_dirty"] == "False"


def test_runner_tag_is_the_class_name():
    from hyperforget.hooks import runner_name

    repr_ = "<kedro.runner.parallel_runner.ParallelRunner object at 0x7f3a2c1d0e50>"
    assert runner_name(repr_) == "ParallelRunner"
    assert runner_name("ThreadRunner") == "ThreadRunner"
    assert runner_name(None) == runner_name("None") == "SequentialRunner"


def test_runs_left_running_by_a_dead_process_are_marked_killed(tmp_path):
    import os
    import socket

    import mlflow

    from hyperforget.hooks import mark_killed_runs

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("e")
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()
    tags = {
        "dead": {"host": host, "pid": str(gone.pid)},
        "alive": {"host": host, "pid": str(os.getpid())},
        "elsewhere": {"host": "another-machine", "pid": str(gone.pid)},
        "untagged": {},
    }
    runs = {name: client.create_run(experiment, tags=t).info.run_id for name, t in tags.items()}
    current = client.create_run(experiment).info.run_id
    assert mark_killed_runs(client, experiment, current) == [runs["dead"]]
    status = {name: client.get_run(run).info.status for name, run in runs.items()}
    assert status == {
        "dead": "KILLED",
        "alive": "RUNNING",
        "elsewhere": "RUNNING",
        "untagged": "RUNNING",
    }
    assert client.get_run(current).info.status == "RUNNING"
