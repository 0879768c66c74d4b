"""resolve_parameters: a profile supplies every value, explicit non-None values override it,
and a bad profile, name or type fails at once naming it."""
from __future__ import annotations

import pytest

from ddlib.experiments import PROFILE_NAMES, resolve_parameters

PROFILES = {
    "smoke": {"d": 16, "width": 64, "lr": 0.05, "link": "he2", "m1_grid": [2, 4], "progress": False,
              "results_dir": None},
    "book": {"d": 32, "width": 512, "lr": 0.05, "link": "he2", "m1_grid": [2, 4, 8], "progress": True,
             "results_dir": None},
}


def test_profile_names_are_smoke_book_paper():
    assert PROFILE_NAMES == ("smoke", "book", "paper")


@pytest.mark.parametrize("profile", ["smoke", "book"])
def test_profile_supplies_every_value_and_only_the_run_arguments(profile):
    params = resolve_parameters(PROFILES, profile)
    assert {k: params[k] for k in PROFILES[profile]} == PROFILES[profile]
    assert set(params) == set(PROFILES[profile]) | {"seed"}  # exactly what run_x(**P) takes


def test_explicit_value_overrides_the_profile():
    params = resolve_parameters(PROFILES, "smoke", d=128, link="he3", m1_grid=[1, 2, 3], progress=True)
    assert (params["d"], params["link"], params["m1_grid"], params["progress"]) == (128, "he3", [1, 2, 3], True)
    assert params["width"] == 64  # untouched values stay the profile's


def test_none_means_the_profile_value():
    params = resolve_parameters(PROFILES, "book", d=None, width=None, lr=None)
    assert (params["d"], params["width"], params["lr"]) == (32, 512, 0.05)


def test_an_int_where_a_float_is_expected_becomes_a_float():
    params = resolve_parameters(PROFILES, "smoke", lr=1)
    assert params["lr"] == 1.0 and type(params["lr"]) is float


def test_a_parameter_whose_profile_value_is_none_accepts_any_value():
    assert resolve_parameters(PROFILES, "smoke", results_dir="out/")["results_dir"] == "out/"


def test_seed_is_a_parameter_of_every_notebook():
    assert resolve_parameters(PROFILES, "smoke", seed=7)["seed"] == 7


def test_resolving_does_not_modify_the_profiles():
    before = {k: dict(v) for k, v in PROFILES.items()}
    resolve_parameters(PROFILES, "smoke", d=8, lr=0.1)
    assert PROFILES == before


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("profile", ["paper", "Smoke", "", None])
def test_unknown_profile_is_rejected_listing_the_profiles(profile):
    with pytest.raises(ValueError, match=r"profile must be one of \['book', 'smoke'\], got"):
        resolve_parameters(PROFILES, profile)


def test_unknown_parameter_name_is_rejected_naming_it():
    with pytest.raises(ValueError, match=r"unknown parameter 'widht'; valid parameters: \[.*'width'"):
        resolve_parameters(PROFILES, "smoke", widht=128)


def test_unknown_parameter_name_is_rejected_even_when_none():
    with pytest.raises(ValueError, match=r"unknown parameter 'm3'"):
        resolve_parameters(PROFILES, "smoke", m3=None)


@pytest.mark.parametrize("name, value", [
    ("d", 16.0), ("d", "16"), ("d", True), ("lr", "0.1"), ("lr", True), ("link", 2),
    ("m1_grid", 4), ("m1_grid", [2, 4.5]), ("progress", 1),
])
def test_wrong_type_is_a_type_error_naming_the_parameter(name, value):
    with pytest.raises(TypeError, match=rf"parameter '{name}' (item \[\d+\] )?expects"):
        resolve_parameters(PROFILES, "smoke", **{name: value})


@pytest.mark.parametrize("module, fn", [("generalization", "run_generalization"), ("encoding", "run_encoding"),
                                        ("algorithms", "run_algorithms"), ("learner", "run_learner"),
                                        ("boundaries", "run_boundaries")])
def test_each_notebooks_run_function_takes_exactly_its_profile_parameters(module, fn):
    import importlib
    import inspect

    mod = importlib.import_module(f"ddlib.experiments.{module}")
    accepted = set(inspect.signature(getattr(mod, fn)).parameters) - {"progress"}
    for name in mod.PROFILES:
        assert set(resolve_parameters(mod.PROFILES, name, seed=0)) == accepted, (module, name)
