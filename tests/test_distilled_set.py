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


# ------------------------------------------------------------------------------- hardening
# Metadata must be JSON data (what save stores exactly); a forged file is an ArtifactError.
# Each refusal is one line naming the key or entry and the type found, and writes nothing.
import json  # noqa: E402

import numpy as np  # noqa: E402

from ddlib import io as ddio  # noqa: E402


def _small() -> DistilledSet:
    g = torch.Generator().manual_seed(1)
    return DistilledSet((torch.randn(2, 4, generator=g, dtype=F64), torch.randn(2, generator=g, dtype=F64)),
                        (torch.randn(3, 4, generator=g, dtype=F64), torch.randn(3, generator=g, dtype=F64)),
                        {"method": "hand", "losses": [0.5, 0.25]})


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "\r" not in text, text
    return text


BAD_VALUES = [
    pytest.param(torch.tensor(0.5), "Tensor", id="tensor"),
    pytest.param(torch.randn(4, 4), "Tensor", id="matrix"),
    pytest.param({1, 2}, "set", id="set"),
    pytest.param((1, 2), "tuple", id="tuple"),
    pytest.param(np.int64(3), "int64", id="numpy-int"),
    pytest.param(float("nan"), "finite", id="nan"),
    pytest.param(float("inf"), "finite", id="inf"),
    pytest.param(2 ** 63, "2**63", id="int-too-large"),
]


@pytest.mark.parametrize("value, named", BAD_VALUES)
def test_non_json_metadata_is_refused_at_construction_naming_key_and_type(value, named):
    ds = _small()
    with pytest.raises(ArtifactError) as exc:
        DistilledSet(ds.stage1, ds.stage2, {"method": "hand", "extra": {"bad": value}})
    text = _one_line(exc)
    assert text.startswith("DistilledSet: metadata['extra']['bad']") and named in text


def test_metadata_with_an_int_key_is_refused_at_construction_naming_the_key():
    ds = _small()
    with pytest.raises(ArtifactError, match=r"DistilledSet: metadata: the key 3 has type int; metadata keys "
                                            r"must be strings") as exc:
        DistilledSet(ds.stage1, ds.stage2, {3: "x"})
    _one_line(exc)


@pytest.mark.parametrize("key, value, named", [
    pytest.param("t", torch.zeros(2, 2), "metadata['t'] has type Tensor", id="tensor"),
    pytest.param("s", {"a"}, "metadata['s'] has type set", id="set"),
    pytest.param(5, "five", "the key 5 has type int", id="int-key"),
])
def test_save_of_metadata_changed_to_non_json_writes_nothing(tmp_path, key, value, named):
    ds = _small()
    ds.metadata[key] = value  # the dict can be changed after construction: save checks again
    with pytest.raises(ArtifactError) as exc:
        ds.save(tmp_path / "out" / "set.pt")
    assert named in _one_line(exc)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file, no folder


def _forge(tmp_path, tensors, meta, meta_json=None):
    path = tmp_path / "forged.pt"
    torch.save({"magic": "ddlib-artifact", "kind": "DistilledSet", "format_version": ddio.FORMAT_VERSION,
                "meta_json": json.dumps(meta) if meta_json is None else meta_json, "tensors": tensors,
                "sha256": "0" * 64}, path)
    return path


def test_loading_a_forged_set_whose_tensors_are_strings_is_refused_naming_the_entry(tmp_path):
    ds = _small()
    tensors = {"X1": "1,2,3", "y1": ds.stage1[1], "X2": ds.stage2[0], "y2": ds.stage2[1]}
    with pytest.raises(ArtifactError, match=r"malformed ddlib DistilledSet file: the entry 'X1' of its tensors "
                                            r"has type str, not a tensor") as exc:
        DistilledSet.load(_forge(tmp_path, tensors, {}))
    _one_line(exc)


def test_loading_a_forged_set_whose_tensors_are_not_a_dict_is_refused(tmp_path):
    with pytest.raises(ArtifactError, match=r"malformed ddlib DistilledSet file: its tensors have type list") as exc:
        DistilledSet.load(_forge(tmp_path, list(_small().stage1), {}))
    _one_line(exc)


def test_loading_a_forged_set_whose_metadata_is_not_a_dict_is_refused(tmp_path):
    ds = _small()
    tensors = {"X1": ds.stage1[0], "y1": ds.stage1[1], "X2": ds.stage2[0], "y2": ds.stage2[1]}
    with pytest.raises(ArtifactError, match=r"malformed ddlib DistilledSet file: its metadata has type list, "
                                            r"not a JSON object") as exc:
        DistilledSet.load(_forge(tmp_path, tensors, None, meta_json="[1]"))
    _one_line(exc)


def test_loading_a_checksummed_set_with_nan_metadata_is_refused(tmp_path):
    ds = _small()
    tensors = {"X1": ds.stage1[0], "y1": ds.stage1[1], "X2": ds.stage2[0], "y2": ds.stage2[1]}
    meta = {"loss": float("nan")}
    path = tmp_path / "nan.pt"
    torch.save({"magic": "ddlib-artifact", "kind": "DistilledSet", "format_version": ddio.FORMAT_VERSION,
                "meta_json": json.dumps(meta), "tensors": tensors, "sha256": ddio.checksum(meta, tensors)}, path)
    with pytest.raises(ArtifactError, match=r"not a valid DistilledSet: DistilledSet: metadata\['loss'\]: numbers "
                                            r"must be finite") as exc:
        DistilledSet.load(path)
    _one_line(exc)


def test_round_trip_of_nested_json_metadata_is_equal(tmp_path):
    ds = _small()
    meta = {"none": None, "ok": True, "seed": 2 ** 63 - 1, "lr": 1e-3, "name": "a\nb",
            "curve": [[0.5, 0.25], []], "task": {"link": "he2", "params": {"r": 2}}}
    full = DistilledSet(ds.stage1, ds.stage2, meta)
    loaded = DistilledSet.load(full.save(tmp_path / "set.pt"))
    assert loaded.equal(full) and loaded.metadata == meta
