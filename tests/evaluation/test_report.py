import pandas as pd

from hyperforget.evaluation import report


def test_rows_of_the_target_network_are_marked_when_the_original_is_poor():
    methods = pd.Series(["original", "oracle", "ft", "dihyfo2", "spm", "spm_oracle"])
    poor = {"__metadata__": {"poor_original": "true"}}
    flags = report._poor_original(poor, methods)
    assert flags.tolist() == [True, True, True, True, False, False]
    competent = {"__metadata__": {"poor_original": "false"}}
    assert not report._poor_original(competent, methods).any()
    unchecked = report._poor_original({"__metadata__": {}}, methods)
    assert unchecked.isna().all()  # weights saved before the check: unknown, not competent
