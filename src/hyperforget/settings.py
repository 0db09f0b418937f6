"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from hyperforget.hooks import (
    CheckRunParametersHook,
    CommandLineListsHook,
    MlflowArtifactsHook,
    MlflowLineageHook,
    ProfileHook,
    RunComputeHook,
)
from hyperforget.interrupts import InterruptHook
from hyperforget.lineage import LineageHook
from hyperforget.quiet import silence_unactionable_warnings

silence_unactionable_warnings()

HOOKS = (
    InterruptHook(),
    MlflowArtifactsHook(),
    CommandLineListsHook(),
    CheckRunParametersHook(),
    RunComputeHook(),
    LineageHook(),
    MlflowLineageHook(),
    ProfileHook(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments (local, test, paper...) override single keys, not whole stage blocks.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
}
