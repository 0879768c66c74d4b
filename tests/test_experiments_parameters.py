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


# ---- each parameter declared once ----------------------------------------------------------------------

from ddlib.experiments.parameters import Parameters, given, type_of  # noqa: E402
from ddlib.values import TypeSpec  # noqa: E402

DECL = Parameters(("d", 32, "input dimension"), ("lr", 0.05, "step size"), ("grid", [2, 8], "sizes"),
                  ("pairs", [[32, 2]], "(d, r) pairs"), ("link", "he2", "the link"))


def test_a_declaration_gives_every_profile_from_the_book_values_and_the_overrides():
    profiles = DECL.profiles(smoke={"d": 16}, paper={"grid": [1, 2, 4]})
    assert profiles["book"] == {"d": 32, "lr": 0.05, "grid": [2, 8], "pairs": [[32, 2]], "link": "he2"}
    assert profiles["smoke"] == {**profiles["book"], "d": 16} and profiles["paper"]["grid"] == [1, 2, 4]
    assert list(profiles) == ["smoke", "book", "paper"]


@pytest.mark.parametrize("overrides, message", [({"dd": 16}, "not a declared parameter"),
                                                 ({"d": 16.5}, "expects int"), ({"grid": [2, "x"]}, "expects int")])
def test_a_profile_may_set_only_declared_names_of_the_declared_type(overrides, message):
    with pytest.raises(ValueError, match=message):
        DECL.profiles(smoke=overrides)


def test_the_type_of_a_parameter_is_the_type_of_its_book_value():
    assert (type_of(3), type_of(0.5), type_of("x"), type_of(True)) == tuple(TypeSpec(k) for k in ("int", "float", "str", "bool"))
    assert str(type_of([[32, 2]])) == "list[list[int]]" and str(DECL["grid"].type) == "list[int]"


def test_given_picks_the_declared_names_a_run_set_in_the_namespace():
    profiles = DECL.profiles()
    namespace = {"d": 48, "profile": "smoke", "seed": 3, "results_dir": "r", "other": 1, "plt": object()}
    assert given(namespace, profiles) == {"d": 48}


def test_the_declaration_table_lists_every_parameter_with_its_type_and_profiles():
    table = DECL.table(DECL.profiles(smoke={"d": 16}))
    assert "| `d` (int) | `32` (smoke: `16`) | input dimension |" in table and table.count("\n") == 2 + len(DECL)
    assert "| `link` (str) | `he2` | the link |" in table and "'he2'" not in table  # as -p takes it, not repr
    assert "| `grid` (list[int]) | `'[2, 8]'` |" in table  # one shell word: JSON, quoted


def test_every_book_notebook_declares_its_parameters_once_in_its_experiment_module():
    from ddlib.book.notebooks import NOTEBOOKS, experiment_module

    for notebook in NOTEBOOKS:
        module = experiment_module(notebook)
        declared = module.PARAMETERS
        for profile in module.PROFILES.values():
            assert list(profile) == list(declared), notebook  # every profile holds exactly the declared names
