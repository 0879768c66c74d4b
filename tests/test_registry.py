"""ddlib.registry.Registry: register, look up, unregister; built-in entries stay; one-line errors."""
from __future__ import annotations

import pytest

from ddlib.registry import Registry, UnknownName


@pytest.fixture()
def reg() -> Registry[int]:
    r: Registry[int] = Registry("thing")
    r.register("one", 1, builtin=True)
    r.register("two", 2)
    return r


def test_lookup_returns_the_item_and_names_list_built_in_first(reg):
    reg.register("zero", 0)
    assert reg.lookup("two") == 2 and reg.names() == ["one", "two", "zero"] and "one" in reg and len(reg) == 3


def test_an_unknown_name_is_a_one_line_error_listing_the_names(reg):
    with pytest.raises(UnknownName, match=r"thing must be one of \['one', 'two'\], got 'three'") as exc:
        reg.lookup("three")
    assert "\n" not in str(exc.value)


def test_a_taken_name_needs_replace_and_a_built_in_is_never_replaced_or_removed(reg):
    with pytest.raises(ValueError, match="pass replace=True"):
        reg.register("two", 22)
    assert reg.register("two", 22, replace=True) == 22 and reg.lookup("two") == 22
    with pytest.raises(ValueError, match="built-in thing cannot be replaced"):
        reg.register("one", 11, replace=True)
    with pytest.raises(ValueError, match="cannot be unregistered"):
        reg.unregister("one")
    reg.unregister("two")
    assert reg.names() == ["one"]


@pytest.mark.parametrize("name", ["", 3, None])
def test_a_name_must_be_a_non_empty_string(reg, name):
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        reg.register(name, 0)


def test_links_and_sweep_experiments_are_registries():
    from ddlib.sweep.registry import EXPERIMENTS
    from ddlib.tasks import LINK_REGISTRY

    assert isinstance(LINK_REGISTRY, Registry) and isinstance(EXPERIMENTS, Registry)
    assert LINK_REGISTRY.builtin("he2") and LINK_REGISTRY.names()[:4] == ["he2", "aniso", "he3", "quad"]
