"""kedro-viz: the static build shows layers, namespaces and tags, and renders in a browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    namespaces = set(main["modular_pipelines"])
    assert {"ft", "ssd", "ltu", "dihyfo1", "dihyfo2"} <= namespaces
    tags = {tag["id"] for tag in main["tags"]}
    assert {"data_preparation", "model_zoo", "unlearning", "evaluation", "baseline"} <= tags
    datasets = [n for n in main["nodes"] if n["type"] == "data"]
    assert all(n.get("layer") for n in datasets if n["name"].endswith("_weights"))
    # a node takes the parameters it uses, not its stage's whole block
    parameters = {n["name"] for n in main["nodes"] if n["type"] == "parameters"}
    assert "params:unlearning.methods.ga" in parameters and "params:unlearning" not in parameters


def test_the_built_site_renders_the_pipeline_graph(viz_build, tmp_path):
    """Opened in a headless Chromium (the system's), the site draws the flowchart's nodes."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no system Chromium installed (apt-get install chromium)")
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=viz_build,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
        port = int(line.split(" port ")[1].split()[0])
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.wait_for_selector(".pipeline-node", timeout=60_000)
            drawn = page.locator(".pipeline-node").count()
            text = page.inner_text("body")
            page.screenshot(path=str(tmp_path / "viz.png"))
            browser.close()
        assert drawn > 10
        assert "Evaluation" in text or "evaluation" in text
    finally:
        server.terminate()
        server.wait(timeout=10)
