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


# ------------------------------------------------------------------------------- hardening
# A bad input ends in one ArtifactError of one line that names what is wrong, and a refused save
# writes nothing: no file, no temporary file, not even the parent folder.
def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "\r" not in text, text
    return text


NON_JSON = [
    pytest.param(torch.zeros(2, 2), "Tensor", id="tensor"),
    pytest.param({1, 2}, "set", id="set"),
    pytest.param((1, 2), "tuple", id="tuple"),
    pytest.param(b"raw", "bytes", id="bytes"),
    pytest.param(object(), "object", id="object"),
]


@pytest.mark.parametrize("value, type_name", NON_JSON)
def test_save_artifact_refuses_non_json_metadata_naming_key_and_type(tmp_path, tensors, value, type_name):
    with pytest.raises(ArtifactError) as exc:
        save_artifact(tmp_path / "out" / "thing.pt", KIND, tensors, {"ok": 1, "nested": {"bad": value}})
    text = _one_line(exc)
    assert "['nested']['bad']" in text and type_name in text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_save_artifact_refuses_non_finite_metadata_floats(tmp_path, tensors, value):
    with pytest.raises(ArtifactError, match=r"\['loss'\]: numbers must be finite") as exc:
        save_artifact(tmp_path / "thing.pt", KIND, tensors, {"loss": value})
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [2 ** 63, -2 ** 63 - 1, 10 ** 5000], ids=["2**63", "-2**63-1", "huge"])
def test_save_artifact_refuses_metadata_integers_out_of_range(tmp_path, tensors, value):
    with pytest.raises(ArtifactError, match=r"\['n'\]: integers must lie in \[-2\*\*63, 2\*\*63\)") as exc:
        save_artifact(tmp_path / "thing.pt", KIND, tensors, {"n": value})
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_save_artifact_refuses_a_non_string_metadata_key_naming_it(tmp_path, tensors):
    with pytest.raises(ArtifactError, match=r"the key 7 has type int; metadata keys must be strings") as exc:
        save_artifact(tmp_path / "thing.pt", KIND, tensors, {"a": 1, 7: "seven"})
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_save_artifact_refuses_metadata_that_contains_itself(tmp_path, tensors):
    meta: dict = {"a": []}
    meta["a"].append(meta)
    with pytest.raises(ArtifactError, match=r"\['a'\]\[0\]: the dict contains itself") as exc:
        save_artifact(tmp_path / "thing.pt", KIND, tensors, meta)
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_save_artifact_refuses_a_non_tensor_entry_naming_it(tmp_path, tensors):
    with pytest.raises(ArtifactError, match=r"the entry 'b' of its tensors has type str, not a tensor") as exc:
        save_artifact(tmp_path / "thing.pt", KIND, {**tensors, "b": "0.5"}, META)
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_json_metadata_of_every_allowed_type_round_trips_equal(tmp_path, tensors):
    meta = {"none": None, "flag": False, "n": -(2 ** 63), "top": 2 ** 63 - 1, "x": 0.1, "tiny": 5e-324,
            "text": "line\nbreak \udc80", "list": [1, [2.5, "a"], {}], "dict": {"k": {"j": [None]}}}
    _, loaded = load_artifact(save_artifact(tmp_path / "thing.pt", KIND, tensors, meta), KIND)
    assert loaded == meta


def _forged(tmp_path, **fields) -> str:
    payload = {"magic": "ddlib-artifact", "kind": KIND, "format_version": ddio.FORMAT_VERSION,
               "meta_json": json.dumps(META), "tensors": {"A": torch.zeros(2)}, "sha256": "0" * 64}
    payload.update(fields)
    torch.save(payload, tmp_path / "forged.pt")
    return tmp_path / "forged.pt"


FORGED = [
    pytest.param({"tensors": {"A": "not a tensor"}}, r"the entry 'A' of its tensors has type str, not a tensor",
                 id="string-tensor"),
    pytest.param({"tensors": {"A": [1.0, 2.0]}}, r"the entry 'A' of its tensors has type list, not a tensor",
                 id="list-tensor"),
    pytest.param({"tensors": {3: torch.zeros(2)}}, r"the tensor name 3 has type int, not a str", id="int-name"),
    pytest.param({"tensors": ["A"]}, r"its tensors have type list, not a dict", id="tensors-list"),
    pytest.param({"tensors": "A"}, r"its tensors have type str, not a dict", id="tensors-str"),
    pytest.param({"meta_json": {"m1": 4}}, r"its metadata has type dict, not JSON text", id="meta-dict"),
    pytest.param({"meta_json": "[1, 2]"}, r"its metadata has type list, not a JSON object", id="meta-list"),
    pytest.param({"meta_json": "{"}, r"its metadata is not valid JSON", id="meta-bad-json"),
]


@pytest.mark.parametrize("fields, message", FORGED)
def test_load_artifact_refuses_a_forged_payload_naming_what_is_wrong(tmp_path, fields, message):
    with pytest.raises(ArtifactError, match=r"forged\.pt: malformed ddlib TestThing file: " + message) as exc:
        load_artifact(_forged(tmp_path, **fields), KIND)
    _one_line(exc)
