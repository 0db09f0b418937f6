"""Every command the README shows is one its programs accept: documentation cannot drift."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT, copy_project

# commands that need what a test has not (the network for --with, the suite itself)
NOT_RUN = ("--with", "pytest")


def readme_commands() -> dict[tuple[str, ...], list[str]]:
    """The ``uv run`` commands of the README's bash blocks, per program and subcommands, with
    the options and values of all of them (so each program is started once)."""
    blocks = re.findall(r"```bash\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), re.S)
    commands: dict[tuple[str, ...], list[str]] = {}
    for line in "\n".join(blocks).splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] != ["uv", "run"] or any(w in NOT_RUN for w in words):
            continue
        words = words[2:]
        first_option = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
        commands.setdefault(tuple(words[:first_option]), []).extend(words[first_option:])
    return commands


def test_the_readmes_commands_and_options_exist(tmp_path):
    commands = readme_commands()
    assert ("kedro", "run") in commands and ("kedro", "viz", "run") in commands
    project = copy_project(tmp_path)
    for (program, *subcommands), options in commands.items():
        executable = str(Path(sys.executable).with_name(program))
        done = subprocess.run(
            [executable, *subcommands, *options, "--help"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{program} {' '.join(subcommands)}: {done.stderr[-1500:]}"
