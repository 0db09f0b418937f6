"""Project pipelines: one per stage, and ``unlearn`` (the whole chain, also the default).

Stages are listed explicitly, in chain order: Kedro's ``find_pipelines`` only imports the
pipeline named on the command line, which would leave ``unlearn`` empty.
"""

from kedro.pipeline import Pipeline

from hyperforget.pipelines import (
    data_preparation,
    evaluation,
    hypernetwork,
    model_zoo,
    semi_parametric,
    unlearning,
)

STAGES = {
    "data_preparation": data_preparation.create_pipeline,
    "model_zoo": model_zoo.create_pipeline,
    "hypernetwork": hypernetwork.create_pipeline,
    "unlearning": unlearning.create_pipeline,
    "semi_parametric": semi_parametric.create_pipeline,
    "evaluation": evaluation.create_pipeline,
}


def register_pipelines() -> dict[str, Pipeline]:
    # every node carries its stage as a tag (kedro-viz filters by tag; kedro run --tags) and as
    # the first part of its namespace (kedro-viz opens on one box per stage; a method's nodes
    # are in <stage>.<method>); dataset names stay as the catalog has them
    pipelines = {
        name: Pipeline(create(), tags=[name], namespace=name, prefix_datasets_with_namespace=False)
        for name, create in STAGES.items()
    }
    unlearn = sum(pipelines.values(), Pipeline([]))
    pipelines["unlearn"] = unlearn
    pipelines["__default__"] = unlearn
    return pipelines
