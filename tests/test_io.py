"""Artefact files: atomic, versioned and checksummed -- a corrupted, truncated, foreign or too-new
file is refused with an ArtifactError (a ValueError) that says what is wrong."""
from __future__ import annotations

import json

import pytest
import torch

from ddlib import io as ddio
from ddlib.io import ArtifactError, load_artifact, read_json, save_artifact, write_json

KIND = "TestThing"


@pytest.fixture
def tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"A": torch.randn(6, 5, generator=g, dtype=torch.float64),
            "b": torch.arange(7, dtype=torch.int64),
            "c": torch.randn(3, generator=g, dtype=torch.float32)}


META = {"method": "gm+kip", "m1": 4, "losses": [0.125, 0.5], "nested": {"seed": 3, "task": None}}


def _saved(tmp_path, tensors) -> bytes:
    path = save_artifact(tmp_path / "thing.pt", KIND, tensors, META)
    return path.read_bytes()


def test_artifact_round_trip_is_bit_identical(tmp_path, tensors):
    path = save_artifact(tmp_path / "sub" / "thing.pt", KIND, tensors, META)
    loaded, meta = load_artifact(path, KIND)
    assert meta == META
    assert set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert loaded[name].dtype == t.dtype and torch.equal(loaded[name], t), name


def test_round_trip_of_scalar_empty_bool_and_non_contiguous_tensors(tmp_path):
    odd = {"scalar": torch.tensor(1.5, dtype=torch.float64), "count": torch.tensor(3),
           "empty": torch.zeros(0, 4), "flags": torch.tensor([True, False]),
           "transposed": torch.arange(12.0).reshape(3, 4).T}
    loaded, _ = load_artifact(save_artifact(tmp_path / "odd.pt", KIND, odd, {}), KIND)
    for name, t in odd.items():
        assert loaded[name].shape == t.shape and torch.equal(loaded[name], t), name


def test_artifact_records_format_version_and_writing_ddlib_version(tmp_path, tensors):
    from ddlib import __version__
    path = save_artifact(tmp_path / "thing.pt", KIND, tensors, META)
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == ddio.FORMAT_VERSION and payload["written_by"] == __version__


def test_save_leaves_no_temporary_files(tmp_path, tensors):
    save_artifact(tmp_path / "thing.pt", KIND, tensors, META)
    save_artifact(tmp_path / "thing.pt", KIND, tensors, META)  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["thing.pt"]


def test_artifact_error_is_a_value_error():
    assert issubclass(ArtifactError, ValueError)


def test_corrupted_tensor_byte_is_detected(tmp_path, tensors):
    raw = bytearray(_saved(tmp_path, tensors))
    at = raw.find(tensors["A"].numpy().tobytes())
    assert at > 0  # float64 storages are stored verbatim in torch's zip container
    raw[at + 17] ^= 0x01
    (tmp_path / "bad.pt").write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"checksum mismatch, the file is corrupted"):  # torch does not notice
        load_artifact(tmp_path / "bad.pt", KIND)


def test_corrupted_metadata_byte_is_detected(tmp_path, tensors):
    raw = _saved(tmp_path, tensors)
    assert raw.count(b'"m1":4') == 1
    (tmp_path / "bad.pt").write_bytes(raw.replace(b'"m1":4', b'"m1":5'))
    with pytest.raises(ArtifactError, match=r"checksum mismatch, the file is corrupted"):  # torch does not notice
        load_artifact(tmp_path / "bad.pt", KIND)


def test_a_flipped_byte_anywhere_never_loads_as_different_data(tmp_path, tensors):
    # 150 seeded positions over the whole file: each load either fails with ArtifactError or
    # returns exactly what was saved (a flip in zip padding or an unused header field is harmless).
    raw = _saved(tmp_path, tensors)
    positions = torch.randperm(len(raw), generator=torch.Generator().manual_seed(0))[:150].tolist()
    refused = 0
    for pos in positions:
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        (tmp_path / "bad.pt").write_bytes(bytes(bad))
        try:
            loaded, meta = load_artifact(tmp_path / "bad.pt", KIND)
        except ArtifactError:
            refused += 1
            continue
        assert meta == META and all(torch.equal(loaded[k], tensors[k]) for k in tensors), pos
    assert refused > 0


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_file_is_refused_with_a_clear_error(tmp_path, tensors, keep):
    raw = _saved(tmp_path, tensors)
    (tmp_path / "cut.pt").write_bytes(raw[: int(keep * len(raw))])
    with pytest.raises(ArtifactError, match=r"not a readable ddlib TestThing file \(truncated, corrupted"):
        load_artifact(tmp_path / "cut.pt", KIND)


def test_torch_save_of_a_plain_dict_is_refused(tmp_path, tensors):
    torch.save({"X1": tensors["A"], "meta": "x"}, tmp_path / "foreign.pt")
    with pytest.raises(ArtifactError, match=r"is not a ddlib artefact \(expected a TestThing file\)"):
        load_artifact(tmp_path / "foreign.pt", KIND)


def test_text_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not a tensor file\n")
    with pytest.raises(ArtifactError, match=r"not a readable ddlib TestThing file"):
        load_artifact(tmp_path / "notes.txt", KIND)


def test_other_kind_of_artifact_is_refused(tmp_path, tensors):
    path = save_artifact(tmp_path / "thing.pt", "OtherThing", tensors, META)
    with pytest.raises(ArtifactError, match=r"holds a 'OtherThing', expected a TestThing"):
        load_artifact(path, KIND)


def test_future_format_version_is_refused(tmp_path, tensors):
    payload = {"magic": "ddlib-artifact", "kind": KIND, "format_version": ddio.FORMAT_VERSION + 1,
               "meta_json": json.dumps(META), "tensors": tensors, "sha256": ddio.checksum(META, tensors)}
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ArtifactError, match=rf"format version {ddio.FORMAT_VERSION + 1}.*upgrade ddlib"):
        load_artifact(tmp_path / "future.pt", KIND)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file"):
        load_artifact(tmp_path / "absent.pt", KIND)


def test_checksum_depends_on_values_names_dtypes_and_metadata(tensors):
    base = ddio.checksum(META, tensors)
    assert ddio.checksum(dict(META), {k: v.clone() for k, v in tensors.items()}) == base
    assert ddio.checksum({**META, "m1": 5}, tensors) != base
    assert ddio.checksum(META, {**tensors, "A": tensors["A"] + 1e-12}) != base
    assert ddio.checksum(META, {**tensors, "c": tensors["c"].double()}) != base
    renamed = {("Z" if k == "A" else k): v for k, v in tensors.items()}
    assert ddio.checksum(META, renamed) != base


# ------------------------------------------------------------------------------- JSON
def test_json_round_trip(tmp_path):
    record = {"test_mse": 0.0085, "alignment": [0.84, 0.88], "params": {"d": 32, "profile": "book"}, "ok": True}
    write_json(tmp_path / "r.json", record)
    assert read_json(tmp_path / "r.json") == record


def test_json_records_format_version_and_checksum(tmp_path):
    write_json(tmp_path / "r.json", {"x": 1})
    raw = json.loads((tmp_path / "r.json").read_text())
    assert raw["_integrity"]["format_version"] == ddio.FORMAT_VERSION
    assert len(raw["_integrity"]["sha256"]) == 64


def test_json_edit_is_detected_by_the_checksum(tmp_path):
    write_json(tmp_path / "r.json", {"test_mse": 0.0085, "m1": 8})
    text = (tmp_path / "r.json").read_text()
    (tmp_path / "r.json").write_text(text.replace("0.0085", "0.0084"))
    with pytest.raises(ArtifactError, match=r"checksum mismatch"):
        read_json(tmp_path / "r.json")
    assert read_json(tmp_path / "r.json", verify=False)["test_mse"] == 0.0084  # explicit opt-out


def test_json_without_integrity_record_is_refused(tmp_path):
    (tmp_path / "plain.json").write_text('{"a": 1}')
    with pytest.raises(ArtifactError, match=r"no integrity record"):
        read_json(tmp_path / "plain.json")


def test_json_from_a_future_format_is_refused(tmp_path):
    write_json(tmp_path / "r.json", {"a": 1})
    raw = json.loads((tmp_path / "r.json").read_text())
    raw["_integrity"]["format_version"] = ddio.FORMAT_VERSION + 1
    (tmp_path / "r.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=r"format version .* is newer than this ddlib reads"):
        read_json(tmp_path / "r.json")


def test_truncated_json_is_refused(tmp_path):
    write_json(tmp_path / "r.json", {"a": [1, 2, 3]})
    text = (tmp_path / "r.json").read_text()
    (tmp_path / "r.json").write_text(text[: len(text) // 2])
    with pytest.raises(ArtifactError, match=r"not readable JSON"):
        read_json(tmp_path / "r.json")


def test_write_json_of_a_non_dict_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"obj must be a dict, got list"):
        write_json(tmp_path / "r.json", [1, 2])
