import pandas as pd
import torch

from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.scenario import ForgetScenario
from hyperforget.core.targets import build_target
from hyperforget.evaluation.zoo_distance import (
    final_checkpoints,
    zoo_distance_metrics,
    zoo_distance_table,
)
from hyperforget.hypernet.permutation import hidden_unit_permutation


def test_a_copied_zoo_network_is_at_distance_zero_and_a_fresh_one_is_not():
    layout = ParamLayout.from_module(build_target((1, 4, 4), 3, (5,)))
    zoo_params = torch.randn(6, layout.num_params)
    table = pd.DataFrame({"run_id": [0, 0, 0, 1, 1, 1], "step": [0, 5, 10, 0, 5, 10]})
    pool = final_checkpoints(zoo_params, table)
    torch.testing.assert_close(pool, zoo_params[[2, 5]])
    shuffle = hidden_unit_permutation(layout, 2, torch.Generator().manual_seed(0))
    copies = pool.gather(1, shuffle)  # the zoo's finals, units reordered
    scenarios = [ForgetScenario.of_classes([0])]
    retrained = torch.randn(1, 3, layout.num_params)
    distances = zoo_distance_table(
        pool, layout, scenarios, retrained, {"dihyfo2": copies.unsqueeze(0)}, runs=2
    )
    assert len(distances) == 4  # two retrained models, two draws
    by_method = distances.groupby("method")["nearest_zoo_distance"]
    assert by_method.max()["dihyfo2"] < 1e-6
    assert by_method.min()["oracle"] > 0.5
    metrics = zoo_distance_metrics(distances)
    assert set(metrics) == {
        "dihyfo2.nearest_zoo_distance",
        "oracle.nearest_zoo_distance",
    }
