"""The shared preconditions read the link registry, so every notebook puts a link in or out of
the paper's regime the same way (quad, exponent 2, is in; he3 is out)."""
from __future__ import annotations

import pytest

from ddlib.experiments.regime import LEARNS, enough_stage1_points, full_data_learns, learnable_link
from ddlib.tasks import BUILTIN_LINKS, get_link


@pytest.mark.parametrize("link", BUILTIN_LINKS)
def test_learnable_link_follows_the_registry(link):
    pre = learnable_link(link)
    assert pre.met == (get_link(link).information_exponent == 2)
    assert link in pre.detail


def test_quad_is_in_the_regime_and_he3_is_not():
    assert learnable_link("quad").met and learnable_link("aniso").met and learnable_link("he2").met
    assert not learnable_link("he3").met


def test_full_data_learns_at_the_boundary_and_names_the_measurement():
    assert full_data_learns(LEARNS, "at n = 10").met
    pre = full_data_learns(LEARNS + 1e-9, "at n = 10", "at every size")
    assert not pre.met and "at every size" in pre.name and "at n = 10" in pre.detail


def test_enough_stage1_points():
    assert enough_stage1_points(2, 2).met and not enough_stage1_points(1, 2).met
