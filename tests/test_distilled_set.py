"""DistilledSet: determinism of distill (same seeds -> bit-identical set), the save/load round
trip, refusal of foreign, truncated and corrupted files, and fit's use of the recorded learner."""
from __future__ import annotations

import pytest
import torch

from ddlib.distillers import DistilledSet, distill
from ddlib.io import ArtifactError, save_artifact
from ddlib.learners import TwoStageLearner

F64 = torch.float64
SMALL = dict(steps1=20, steps2=20, lr=0.05, restarts=2)


@pytest.fixture
def distilled(net, data, task) -> DistilledSet:
    return distill(net, *data, 3, 6, seed=4, task=task, **SMALL)


def _tensors(ds: DistilledSet):
    return ds.stage1 + ds.stage2


def test_same_seeds_give_a_bit_identical_distilled_set(net, data, task, distilled):
    again = distill(net, *data, 3, 6, seed=4, task=task, **SMALL)
    assert all(torch.equal(p, q) for p, q in zip(_tensors(distilled), _tensors(again)))
    assert again.metadata == distilled.metadata
    assert again.equal(distilled)


def test_a_different_distill_seed_gives_a_different_set(net, data, task, distilled):
    other = distill(net, *data, 3, 6, seed=5, task=task, **SMALL)
    assert not other.equal(distilled)
    assert not torch.equal(other.stage1[0], distilled.stage1[0])


def test_a_different_theta0_seed_gives_a_different_set(net, data, task, distilled):
    from ddlib.networks import TwoLayerNet
    other_net = TwoLayerNet.init(net.d, net.width, seed=net.seed + 1)
    other = distill(other_net, *data, 3, 6, seed=4, task=task, **SMALL)
    assert not other.equal(distilled)
    assert other.metadata["theta0"]["seed"] == net.seed + 1


def test_save_load_round_trip_is_equal(tmp_path, distilled):
    path = distilled.save(tmp_path / "set.pt")
    loaded = DistilledSet.load(path)
    assert loaded.equal(distilled)
    assert loaded.metadata == distilled.metadata


def test_round_trip_of_a_hand_made_set_with_empty_metadata(tmp_path):
    g = torch.Generator().manual_seed(0)
    ds = DistilledSet((torch.randn(2, 4, generator=g, dtype=F64), torch.randn(2, generator=g, dtype=F64)),
                      (torch.randn(3, 4, generator=g, dtype=F64), torch.randn(3, generator=g, dtype=F64)))
    assert DistilledSet.load(ds.save(tmp_path / "set.pt")).equal(ds)


def test_equal_detects_a_changed_tensor_or_metadata(distilled):
    X1, y1 = distilled.stage1
    changed = DistilledSet((X1, y1 + 1e-12), distilled.stage2, distilled.metadata)
    assert not changed.equal(distilled)
    relabelled = DistilledSet(distilled.stage1, distilled.stage2, {**distilled.metadata, "seed": -1})
    assert not relabelled.equal(distilled)


def test_equal_distinguishes_dtypes_with_equal_values(distilled):
    meta = distilled.metadata
    as32 = DistilledSet(tuple(t.float() for t in distilled.stage1), tuple(t.float() for t in distilled.stage2), meta)
    as64 = DistilledSet(tuple(t.double() for t in as32.stage1), tuple(t.double() for t in as32.stage2), meta)
    assert all(torch.equal(p, q) for p, q in zip(as32.stage1 + as32.stage2, as64.stage1 + as64.stage2))
    assert not as64.equal(as32)  # same values, different dtypes: not bit-identical
    assert as64.equal(DistilledSet(as64.stage1, as64.stage2, dict(meta)))


def test_sizes_and_memory(distilled, task):
    assert (distilled.m1, distilled.m2, distilled.d) == (3, 6, task.d)
    assert distilled.memory_floats == (3 + 6) * (task.d + 1)


def test_fit_uses_the_learner_recorded_in_the_metadata(net, data, task):
    learner = TwoStageLearner(ridge=1e-2)
    ds = distill(net, *data, 3, 6, seed=4, task=task, learner=learner, **SMALL)
    assert ds.metadata["learner"]["ridge"] == 1e-2
    by_set = ds.fit(net)
    by_hand = learner.fit(net, ds.stage1, ds.stage2)
    assert torch.equal(by_set.W, by_hand.W) and torch.equal(by_set.a, by_hand.a)
    default = TwoStageLearner().fit(net, ds.stage1, ds.stage2)
    assert not torch.equal(by_set.a, default.a)  # the recorded ridge mattered


def test_fit_leaves_theta0_untouched(net, distilled):
    W = net.W.clone()
    distilled.fit(net)
    assert torch.equal(net.W, W)


# ------------------------------------------------------------------------------- bad files
def test_loading_a_torch_save_of_a_plain_dict_is_refused(tmp_path, distilled):
    torch.save({"X1": distilled.stage1[0], "y1": distilled.stage1[1]}, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match=r"is not a ddlib artefact \(expected a DistilledSet file\)"):
        DistilledSet.load(tmp_path / "plain.pt")


def test_loading_a_text_file_is_refused(tmp_path):
    (tmp_path / "set.pt").write_text("X1,y1\n0.1,0.2\n")
    with pytest.raises(ValueError, match=r"not a readable ddlib DistilledSet file"):
        DistilledSet.load(tmp_path / "set.pt")


def test_loading_a_truncated_file_is_refused(tmp_path, distilled):
    raw = distilled.save(tmp_path / "set.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(ValueError, match=r"not a readable ddlib DistilledSet file \(truncated"):
        DistilledSet.load(tmp_path / "cut.pt")


def test_loading_a_corrupted_file_is_refused(tmp_path, distilled):
    raw = bytearray(distilled.save(tmp_path / "set.pt").read_bytes())
    at = raw.find(distilled.stage2[0].numpy().tobytes())
    assert at > 0
    raw[at + 3] ^= 0x40
    (tmp_path / "bad.pt").write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"checksum mismatch"):
        DistilledSet.load(tmp_path / "bad.pt")


def test_loading_another_kind_of_artifact_is_refused(tmp_path):
    path = save_artifact(tmp_path / "net.pt", "TwoLayerNet", {"W": torch.zeros(2, 2)}, {})
    with pytest.raises(ArtifactError, match=r"holds a 'TwoLayerNet', expected a DistilledSet"):
        DistilledSet.load(path)


def test_loading_a_distilled_set_file_missing_tensors_is_refused(tmp_path):
    path = save_artifact(tmp_path / "set.pt", "DistilledSet", {"X1": torch.zeros(2, 2)}, {})
    with pytest.raises(ArtifactError, match=r"lacks tensors \['X2', 'y1', 'y2'\]"):
        DistilledSet.load(path)
