"""Bad parameters, as a new user types them, are refused before the first node: one message
names the parameter, the bad value and what is allowed, and nothing is written (no new file
under data/, no MLflow run FINISHED or left RUNNING). In-process through a Kedro session in a
copy of the project."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import torch

from tests.conftest import copy_project
from tests.test_run_unlearn import run_unlearn, written_files


def nested(dotted: str, value) -> dict:
    """``{"a": {"b": value}}`` from ``"a.b"``: a runtime parameter as --params gives it."""
    head, *rest = dotted.split(".")
    return {head: nested(".".join(rest), value) if rest else value}


FAULTS = [
    # where the zoo trains: an unknown backend, and a Dask scheduler nobody runs (refused within
    # compute.connect_timeout, naming the address and how to start one)
    ("compute.backend", "spark", r"compute.backend must be one of 'local', 'processes', 'dask'"),
    (
        "compute",
        {"backend": "dask", "address": "tcp://127.0.0.1:9", "workers": 2, "connect_timeout": 3},
        r"no Dask scheduler answered at tcp://127.0.0.1:9 within 3 s.*dask scheduler",
    ),
    # target-network training: every one of these used to be trained on, or crashed in torch
    ("model_zoo.training.epochs", -2, r"model_zoo.training.epochs must be >= 1; got -2"),
    ("model_zoo.training.lr", -0.1, r"model_zoo.training.lr must be > 0.0; got -0.1"),
    ("model_zoo.training.batch_size", 0, r"model_zoo.training.batch_size must be >= 1; got 0"),
    ("model_zoo.training.min_steps", -5, r"model_zoo.training.min_steps must be >= 0; got -5"),
    ("model_zoo.training.momentum", 1.5, r"model_zoo.training.momentum must be < 1.0; got 1.5"),
    ("model_zoo.training.nesterov", "yes", r"model_zoo.training.nesterov must be true or false"),
    (
        "model_zoo.training.epoch",
        3,
        r"Unknown parameter\(s\) model_zoo.training.epoch \(did you mean model_zoo.training.epochs",
    ),
    ("model_zoo.train_fraction", 0, r"model_zoo.train_fraction must be > 0.0; got 0.0"),
    ("model_zoo.checkpoints_per_run", 1, r"model_zoo.checkpoints_per_run must be >= 2; got 1"),
    ("model_zoo.zoo_input_dtype", "float16", r"zoo_input_dtype must be one of 'float32', "),
    ("model_zoo.regimes.learn.runs", -1, r"model_zoo.regimes.learn.runs must be >= 0; got -1"),
    ("model_zoo.forget_training.ascent_cap", 0, r"forget_training.ascent_cap must be > 0.0"),
    # the recipe search and the competence check
    ("model_zoo.recipe_search.lrs", [0.1, 0], r"model_zoo.recipe_search.lrs must be > 0.0"),
    ("model_zoo.recipe_search.seeds", 0, r"model_zoo.recipe_search.seeds must be >= 1; got 0"),
    ("model_zoo.competence.on_poor", "ignore", r"on_poor must be one of 'stop', 'mark'"),
    ("model_zoo.competence.max_gap", -1, r"model_zoo.competence.max_gap must be >= 0.0"),
    ("model.kind", "cnn", r"model.kind must be one of 'mlp'; got 'cnn'"),
    ("model.hidden", [0], r"model.hidden must be >= 1; got \(0,\)"),
    ("data_preparation.subset", 0, r"data_preparation.subset must be >= 1; got 0"),
    ("data_preparation.split.seed", -1, r"data_preparation.split.seed must be >= 0; got -1"),
    (
        "data_preparation.normalisation.mean",
        [0.5, 0.5, 0.5],
        r"3 mean and 1 std values for images with 1 channel\(s\); set data_preparation",
    ),
    (
        "data_preparation.normalisation.std",
        ["a b"],
        r"data_preparation.normalisation.std\[0\] must be a number, got 'a'",
    ),
    ("data_preparation.classes", [11], r"\[11\], outside the valid range 0..9"),
    ("data_preparation.classes", ["a 2"], r"classes must list class ids .*, got \['a'\]"),
    (
        "hypernetwork.variant_training.dihyfo1.steps",
        0,
        r"hypernetwork.variant_training.dihyfo1.steps must be >= 1; got 0",
    ),
    ("hypernetwork.training.precision", "float16", r"training.precision must be one of "),
    ("hypernetwork.model.heads", 3, r"hypernetwork.model.width \(\d+\) must be a multiple of "),
    ("hypernetwork.diffusion.beta_end", 2.0, r"hypernetwork.diffusion.beta_end must be < 1.0"),
    (
        "hypernetwork.variant_training.dihyfo1.stepz",
        5,
        r"Unknown parameter\(s\) hypernetwork.variant_training.dihyfo1.stepz \(did you mean ",
    ),
    ("hypernetwork.held_out_fraction", 1.5, r"hypernetwork.held_out_fraction must be < 1.0"),
    ("semi_parametric.mode", "x", r"semi_parametric.mode must be one of 'c', 'r'; got 'x'"),
    ("semi_parametric.encoder", "vit", r"semi_parametric.encoder must be one of 'mlp', "),
    ("semi_parametric.epochs", 0, r"semi_parametric.epochs must be >= 1; got 0"),
    ("unlearning.methods.ssd.alpha", -1.0, r"unlearning.methods.ssd.alpha must be > 0.0"),
    ("unlearning.methods.ft.epochz", 3, r"Unknown parameter\(s\) unlearning.methods.ft.epochz"),
    ("unlearning.methods.scrub.batch_size", 0, r"methods.scrub.batch_size must be >= 1; got 0"),
    ("unlearning.methods.ga.lr", "fast", r"unlearning.methods.ga.lr must be a number, got 'fast'"),
    ("unlearning.methods.sdd", {"alpha": 1.0}, r"unknown method\(s\) \['sdd'\]"),
    ("unlearning.methods.ltu.max_steps", 10, r"ltu.max_steps \(10\) must be at least .*\(30\)"),
    ("unlearning.methods.dihyfo1.sampler", "euler", r"dihyfo1.sampler must be one of 'ddim'"),
    ("unlearning.methods.bad_teacher.mask_forgotten", 1, r"mask_forgotten must be true or"),
    ("unlearning.run", ["sdd"], r"'sdd' in unlearning.run; available: dihyfo1, "),
    ("unlearning.forget_classes", [], r"unlearning.forget_classes is empty"),
    (
        "unlearning.sample_fractions",
        [1.5],
        r"sample_fractions must list distinct shares .*\(0.1 forgets",
    ),
    ("unlearning.sample_fractions", [0.1, 0.1], r"sample_fractions must list distinct shares"),
    ("unlearning.sample_fractions", ["a"], r"sample_fractions must list distinct shares"),
    ("evaluation.retain_margins", [-2], r"evaluation.retain_margins must be >= 0.0; got \(-2.0,\)"),
    ("evaluation.forgot_tolerance", -2, r"evaluation.forgot_tolerance must be >= 0.0; got -2.0"),
    # issue 50: typos anywhere, non-finite numbers, empty lists, values of the wrong kind
    (
        "evalution",
        {"method_runs": 5},
        r"Unknown parameter\(s\) evalution \(did you mean evaluation\?\)",
    ),
    (
        "unlearning.forget_clases",
        [3],
        r"unlearning.forget_clases \(did you mean unlearning.forget_classes\?\); unlearning knows",
    ),
    ("evaluation.forgot_tolerence", 50, r"\(did you mean evaluation.forgot_tolerance\?\)"),
    (
        "data_preparation.normalisation.std",
        [float("inf")],
        r"normalisation.std\[0\] must be a finite",
    ),
    (
        "data_preparation.normalisation.mean",
        [float("nan")],
        r"normalisation.mean\[0\] must be a finite",
    ),
    ("data_preparation.normalisation.std", [0.0], r"normalisation.std must be > 0.0; got \(0.0,\)"),
    (
        "data_preparation.split.fractions",
        {"train": float("nan")},
        r"split.fractions must be numbers > 0",
    ),
    ("data_preparation.split.fractions", {"train": 0.9}, r"sum to 1.2, not 1; adjust data_prep"),
    ("model.hidden", [], r"model.hidden is empty: list the hidden widths"),
    ("evaluation.seed", "abc", r"evaluation.seed must be a whole number, got 'abc'"),
    ("evaluation.method_runs", 2, r"evaluation.method_runs must be >= 3; got 2"),
    ("evaluation.oracle_runs", 2, r"oracle_runs \(2\) must be at least evaluation.method_runs"),
    ("unlearning.run", [], r"unlearning.run must be a non-empty list of method names or null"),
    (
        "unlearning.forget_classes",
        ["three"],
        r"forget_classes must list class ids .*got \['three'\]",
    ),
    (
        "unlearning.forget_class_sets",
        ["1+1"],
        r"forget_class_sets has '1\+1': a class set is two or more distinct class ids",
    ),
    ("unlearning.seed", -1, r"unlearning.seed must be >= 0; got -1"),
    ("model_zoo.regimes.refit.classes", [], r"model_zoo.regimes.refit.classes is empty"),
    ("device", "tpu", r"Unknown device 'tpu' \(parameter device\)"),
    ("lineage", 17, r"lineage must be null or a save version"),
]
if not torch.cuda.is_available():
    FAULTS.append(("device", "cuda", r"device is 'cuda' but CUDA is not available"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_project(tmp_path_factory.mktemp("faults"))
    # mlflow caches a tracking store per URI for the process: with the test environment's
    # relative sqlite:///mlflow-test.db, a later in-process run of another copy of the project
    # would log into this copy's database
    config = path / "conf/test/mlflow.yml"
    relative = "sqlite:///mlflow-test.db"
    config.write_text(config.read_text().replace(relative, f"sqlite:///{path}/mlflow-test.db"))
    return path


@pytest.mark.parametrize(("parameter", "value", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_bad_parameter_is_refused_before_anything_is_written(project, parameter, value, message):
    before = written_files(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(ValueError, match=message):
            run_unlearn(project, nested(parameter, value))
    assert written_files(project) == before
    database = project / "mlflow-test.db"
    if database.exists():
        client = mlflow.MlflowClient(f"sqlite:///{database}")
        experiments = [e.experiment_id for e in client.search_experiments()]
        statuses = {run.info.status for run in client.search_runs(experiments)}
        assert not statuses & {"FINISHED", "RUNNING"}  # refused: none, or one FAILED


def test_the_faults_are_at_least_fifty():
    assert len(FAULTS) >= 50
