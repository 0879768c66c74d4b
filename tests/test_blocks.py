"""ddlib.book.blocks: the two extra blocks of seeds are disjoint from every seed the book, CI and
calibration use; a claim is seed-dependent exactly when its verdicts differ between blocks; the
committed records exist, cover every claim, and are current by their sentinel."""
from __future__ import annotations

import pytest

from ddlib.book.blocks import BLOCK_SEEDS, check_sentinel, load_blocks, seed_dependent
from ddlib.book.notebooks import NOTEBOOKS, experiment_module
from ddlib.experiments.calibration import CALIBRATION_REPETITIONS, CALIBRATION_SEED
from ddlib.experiments.parameters import resolve_parameters
from ddlib.experiments.problem import derived_seeds


def _seeds(base: int, n: int) -> set[int]:
    return {s for k in range(n) for s in derived_seeds(base + k).values()}


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_the_extra_blocks_never_meet_the_book_ci_or_calibration_seeds(notebook):
    module = experiment_module(notebook)
    used = _seeds(CALIBRATION_SEED, CALIBRATION_REPETITIONS)
    for profile in module.PROFILES:
        used |= _seeds(0, resolve_parameters(module.PROFILES, profile, seed=0)["n_seeds"])
    blocks = [_seeds(b, module.PROFILES["book"]["n_seeds"]) for b in BLOCK_SEEDS]
    assert not blocks[0] & blocks[1] and not (blocks[0] | blocks[1]) & used


def test_a_claim_is_seed_dependent_when_a_block_disagrees():
    record = {"blocks": {"100": {"verdicts": {"C1": "holds", "C2": "holds"}},
                         "200": {"verdicts": {"C1": "holds", "C2": "inconclusive"}}}}
    assert seed_dependent({"C1": "holds", "C2": "holds"}, record) == {"C2": ["holds", "holds", "inconclusive"]}
    assert seed_dependent({"C1": "holds"}, {}) == {}


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_every_page_has_a_committed_block_record_of_every_claim(notebook):
    record = load_blocks(notebook)
    assert record and [int(s) for s in record["blocks"]] == list(BLOCK_SEEDS)
    module = experiment_module(notebook)
    ids = {d.id for d in module.plan(resolve_parameters(module.PROFILES, "book", seed=0))}
    for block in record["blocks"].values():
        assert set(block["verdicts"]) == ids


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_every_block_record_is_current_by_its_sentinel(notebook):
    check = check_sentinel(notebook)
    assert check.current, check.line()
