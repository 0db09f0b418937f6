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
