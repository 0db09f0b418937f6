"""The method registry: every method is one entry, and a run's selection is checked."""

from __future__ import annotations

import pytest

from hyperforget.unlearning.registry import available_methods, method_specs, select_methods


def test_every_method_of_the_design_is_registered():
    assert available_methods() == [
        "dihyfo1",
        "dihyfo2",
        "ft",
        "ga",
        "rl",
        "ssd",
        "scrub",
        "bad_teacher",
        "ltu",
        "ltu_no_harmonisation",
    ]
    assert all(callable(spec.forget) for spec in method_specs().values())


def test_null_selects_every_method_and_a_list_keeps_its_order_once():
    assert select_methods(None) == available_methods()
    assert select_methods(["ssd", "ft", "ssd"]) == ["ssd", "ft"]
    # as written on the command line: --params "unlearning.run=[ssd ft]" or "unlearning.run=ssd"
    assert select_methods(["ssd ft"]) == ["ssd", "ft"]
    assert select_methods("ssd") == ["ssd"]


@pytest.mark.parametrize("requested", [[], ["ssd", "sdd"], "ssd sdd", {"ssd": 1}])
def test_a_bad_selection_names_the_available_methods(requested):
    with pytest.raises(ValueError, match="(?i)available: dihyfo1, dihyfo2, ft"):
        select_methods(requested)
