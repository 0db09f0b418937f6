"""kedro-viz: the static build shows layers, namespaces and tags, and renders in a browser."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hyperforget.pipeline_registry import STAGES
from tests.browser import chromium_page, free_port, serving
from tests.conftest import copy_project, run_kedro


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("viz"))
    done = run_kedro(project, "viz", "build")
    assert done.returncode == 0, done.stdout + done.stderr
    return project / "build"


def test_the_build_has_layers_namespaces_and_tags(viz_build):
    main = json.loads((viz_build / "api" / "main").read_text())
    assert main["layers"] == [
        "raw",
        "primary",
        "model_input",
        "models",
        "model_output",
        "reporting",
    ]
    # one namespace per stage (the collapsed view), each method's and variant's inside its own
    root = main["modular_pipelines"]["__root__"]["children"]
    assert {c["id"] for c in root if c["type"] == "modularPipeline"} == set(STAGES)
    namespaces = set(main["modular_pipelines"])
    assert {"unlearning.ft", "unlearning.ltu", "hypernetwork.dihyfo2"} <= namespaces
    tags = {tag["id"] for tag in main["tags"]}
    assert {"data_preparation", "model_zoo", "unlearning", "evaluation", "baseline"} <= tags
    datasets = [n for n in main["nodes"] if n["type"] == "data"]
    assert all(n.get("layer") for n in datasets if n["name"].endswith("_weights"))
    # a node takes the parameters it uses, not its stage's whole block
    parameters = {n["name"] for n in main["nodes"] if n["type"] == "parameters"}
    assert "params:unlearning.methods.ga" in parameters and "params:unlearning" not in parameters


def test_the_built_site_opens_on_the_stages(viz_build, tmp_path):
    """Opened in a headless Chromium, the site draws one collapsed box per stage."""
    port = free_port()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with serving(server, viz_build, port) as url, chromium_page() as page:
        page.goto(url, wait_until="load")
        page.wait_for_selector(".pipeline-node", timeout=60_000)
        boxes = page.eval_on_selector_all(  # SVG groups: their text, not inner text
            ".pipeline-node--modularPipeline", "nodes => nodes.map(n => n.textContent)"
        )
        page.screenshot(path=str(tmp_path / "viz.png"))
    assert sorted(boxes) == sorted(STAGES)
