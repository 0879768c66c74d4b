"""ddlib run: parameter parsing, refusal of unknown names and bad values before anything runs,
injection that can only assign literals, outputs, and the verdict-aware exit status."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddlib.cli import main
from ddlib.io import read_json, write_json
from ddlib.cli.run import (ClaimOutcome, RunnerError, notebook_parameters, parameter_specs, parse_value, prepare_notebook,
                          read_claims, run_notebook)

from tests.myst import MYST_HEADER

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "02_generalization.md"

TINY_NOTEBOOK = MYST_HEADER + """
# tiny

```{code-cell} ipython3
:tags: [parameters]

profile = "book"   # profile name
seed = 0           # base seed
results_dir = "results"  # output folder
scale = 2.0        # a float parameter
```

```{code-cell} ipython3
import json, pathlib
pathlib.Path(results_dir).mkdir(parents=True, exist_ok=True)
(pathlib.Path(results_dir) / "tiny.json").write_text(json.dumps({"profile": profile, "seed": seed, "scale": scale}))
assert seed >= 0
```
"""


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.md"
    path.write_text(TINY_NOTEBOOK)
    return path


@pytest.mark.parametrize("text, value", [("5", 5), ("-3", -3), ("0.5", 0.5), ("1e-3", 1e-3), ("true", True),
                                         ("None", "None"), ("null", None), ("he2", "he2"), ("[2, 4]", [2, 4])])
def test_parse_value_reads_numbers_booleans_lists_and_strings(text, value):
    assert parse_value(text) == value


def test_notebook_parameters_lists_the_parameters_cell_names():
    names = set(notebook_parameters(NOTEBOOK))
    assert {"profile", "seed", "results_dir", "d", "r", "width", "n_train", "m1", "m2", "link"} <= names


def test_unknown_parameter_is_refused_with_the_valid_names(tmp_path, tiny):
    with pytest.raises(RunnerError, match=r"unknown parameter\(s\) \['dd'\].*valid parameters: \['profile', 'results_dir', 'scale', 'seed'\]"):
        run_notebook(tiny, tmp_path / "out", {"dd": 48})
    assert not (tmp_path / "out").exists()  # refused before anything ran or was written


def test_cli_exit_code_2_for_unknown_parameter(tmp_path, tiny, capsys):
    assert main(["run", str(tiny), "-p", "nope", "1", "--output-dir", str(tmp_path / "o")]) == 2
    assert "valid parameters" in capsys.readouterr().err


def test_unknown_profile_is_refused(tmp_path, tiny):
    with pytest.raises(RunnerError, match="profile must be one of"):
        prepare_notebook(tiny, tmp_path / "x.ipynb", {"profile": "huge"})


def test_a_run_never_overwrites_the_notebook_it_runs(tmp_path, tiny, capsys):
    import nbformat

    executed = tmp_path / "tiny.ipynb"
    prepare_notebook(tiny, executed, {"seed": 1})
    before = executed.read_bytes()
    for extra in ([], ["--prepare-only"]):  # re-running an executed notebook in its own folder
        assert main(["run", str(executed), "-p", "seed", "2", "--output-dir", str(tmp_path), *extra]) == 2
        assert "would overwrite the notebook being run" in capsys.readouterr().err
    assert executed.read_bytes() == before and nbformat.read(executed, as_version=4).cells


def test_prepare_injects_parameters_after_the_tagged_cell(tmp_path):
    import nbformat

    out = prepare_notebook(NOTEBOOK, tmp_path / "nb.ipynb", {"profile": "smoke", "d": 48})
    nb = nbformat.read(out, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in tags[0] and "injected-parameters" in tags[1]
    injected = nb.cells[[i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])][0]]
    assert 'profile = "smoke"' in injected.source and "d = 48" in injected.source


def test_run_executes_and_leaves_notebook_and_results(tmp_path, tiny):
    out = tmp_path / "out"
    assert main(["run", str(tiny), "-p", "seed", "5", "-p", "scale", "0.25", "--profile", "smoke",
                 "--output-dir", str(out)]) == 0
    assert (out / "tiny.ipynb").is_file()
    assert json.loads((out / "tiny.json").read_text()) == {"profile": "smoke", "seed": 5, "scale": 0.25}


def test_failing_notebook_gives_exit_code_1(tmp_path, tiny, capsys):
    assert main(["run", str(tiny), "-p", "seed", "-1", "--output-dir", str(tmp_path / "o")]) == 1
    assert "failed" in capsys.readouterr().err


# ----------------------------------------------------------------------------- values are data
CLAIMS_NOTEBOOK = MYST_HEADER + """
# claims

```{code-cell} ipython3
:tags: [parameters]

profile = "book"               # profile name
results_dir: str = "results"   # output folder
label: str = None              # any text: written back verbatim
labels: list[str] = None       # more text
outcome: str = "holds"         # the verdict of claim C2
malformed: bool = False        # write a malformed verdicts list
```

```{code-cell} ipython3
from pathlib import Path
from ddlib.io import write_json

verdicts = [{"id": "C1", "verdict": "holds", "line": "alignment measured 0.80 vs threshold 0.55"},
            {"id": "C2", "verdict": outcome, "line": "test MSE ratio measured 0.31 vs threshold 0.25"},
            {"id": "C3", "verdict": "holds" if outcome == "holds" else "outside regime",
             "line": "m1 measured 3 vs regime m1 >= r = 4"}]
if malformed:
    verdicts = [{"id": "C1", "verdict": "mostly"}]
write_json(Path(results_dir) / "claims.json", {"label": label, "labels": labels, "verdicts": verdicts})
```
"""

# Each would create a file named by {marker} if any of it ran as code in the kernel.
PAYLOADS = [
    "\"]; open({marker!r}, 'w'); y = [\"",
    "'; open({marker!r}, 'w'); '",
    "\\\"; open({marker!r}, 'w') #",
    "\"\"\"\nopen({marker!r}, 'w')\n\"\"\"",
    "!!pairs [{{'\"]; open({marker!r}, \"w\"); y = [\"': 1}}]",
    "$(touch {marker})",
]


@pytest.fixture()
def claims_nb(tmp_path: Path) -> Path:
    path = tmp_path / "claims.md"
    path.write_text(CLAIMS_NOTEBOOK)
    return path


def test_no_value_is_ever_executed_and_every_claim_holding_gives_exit_0(tmp_path, claims_nb, capsys):
    markers = [tmp_path / f"pwned{i}" for i in range(len(PAYLOADS) + 1)]
    payloads = [p.format(marker=str(m)) for p, m in zip(PAYLOADS, markers)]
    labels = json.dumps(payloads[1:] + ["\\" + payloads[0] + "\n"])
    out = tmp_path / "out"
    assert main(["run", str(claims_nb), "-p", "label", payloads[0], "-p", "labels", labels,
                 "--output-dir", str(out), "--no-progress"]) == 0
    assert not [m for m in markers if m.exists()]  # nothing ran
    record = read_json(out / "claims.json")
    # received as data: the JSON value of the text (a JSON string loses its quotes), else the text
    assert record["label"] == parse_value(payloads[0]) and record["labels"] == json.loads(labels)
    assert "every claim holds (3)" in capsys.readouterr().out


def test_claims_that_do_not_hold_give_exit_3_with_one_line_each(tmp_path, claims_nb, capsys):
    assert main(["run", str(claims_nb), "-p", "outcome", "does not hold", "--output-dir", str(tmp_path / "o"),
                 "--no-progress"]) == 3
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("claim ")]
    assert lines == ["claim C2 does not hold: test MSE ratio measured 0.31 vs threshold 0.25",
                     "claim C3 outside regime: m1 measured 3 vs regime m1 >= r = 4"]


def test_malformed_verdicts_are_a_one_line_error_with_exit_1(tmp_path, claims_nb, capsys):
    assert main(["run", str(claims_nb), "-p", "malformed", "true", "--output-dir", str(tmp_path / "o"),
                 "--no-progress"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ddlib run")]
    assert len(err) == 1 and "verdicts[0] must be a dict with 'id'" in err[0]


def test_read_claims_without_verdicts_or_file_is_none(tmp_path):
    assert read_claims(tmp_path / "absent.json") is None
    (tmp_path / "plain.json").write_text('{"a": 1}')  # not written by write_json, no verdicts: fine
    assert read_claims(tmp_path / "plain.json") is None
    write_json(tmp_path / "v.json", {"verdicts": [{"id": "C", "verdict": "inconclusive", "line": "x\ny"}]})
    assert read_claims(tmp_path / "v.json") == [ClaimOutcome("C", "inconclusive", "x | y")]


def test_values_are_checked_against_the_declared_types_before_anything_runs(tmp_path, claims_nb):
    for params, match in [({"labels": "x"}, r"'labels' expects list\[str\]"),
                          ({"labels": ["a", 1]}, r"'labels' item \[1\] expects str"),
                          ({"malformed": "off"}, "'malformed' expects bool"),
                          ({"label": ("a", "b")}, "only JSON-typed values"),
                          ({"label": b"x"}, "only JSON-typed values"),
                          ({"label": float("nan")}, "finite")]:
        with pytest.raises(RunnerError, match=match):
            run_notebook(claims_nb, tmp_path / "out", params)
    assert not (tmp_path / "out").exists()


def test_parameter_specs_read_annotations_and_infer_the_rest(claims_nb):
    specs = parameter_specs(claims_nb)
    assert {n: str(s.type) for n, s in specs.items()} == {
        "profile": "str", "results_dir": "str", "label": "str", "labels": "list[str]", "outcome": "str",
        "malformed": "bool"}


def test_every_notebook_declares_a_checked_type_for_every_parameter():
    for path in sorted(NOTEBOOK.parent.glob("*.md")):
        untyped = [n for n, s in parameter_specs(path).items() if s.type.kind == "any"]
        assert not untyped, f"{path.name}: annotate {untyped} (e.g. d: int = None)"


# ---- null only where a parameter defaults to None; an executed notebook written whole ----------------

def test_null_is_refused_for_a_parameter_whose_default_is_not_none(tmp_path, capsys):
    # results_dir: str = "results" -- null would make it None, not "the profile's value"
    assert main(["run", str(NOTEBOOK), "-p", "results_dir", "null", "--output-dir", str(tmp_path / "o"),
                 "--prepare-only"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'results_dir' cannot be null" in err
    assert not (tmp_path / "o").exists()


def test_null_still_means_the_profile_value_where_the_default_is_none(tmp_path):
    out = prepare_notebook(NOTEBOOK, tmp_path / "nb.ipynb", {"profile": "smoke", "d": None})
    assert out.exists()


def test_a_failed_write_leaves_no_truncated_executed_notebook(tmp_path, tiny, monkeypatch, capsys):
    import errno

    import papermill

    def full_disk(input_path, output_path, **kwargs):
        Path(output_path).write_text('{"cells": [')  # papermill had written part of the notebook
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(papermill, "execute_notebook", full_disk)
    out = tmp_path / "out"
    assert main(["run", str(tiny), "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left" in err
    assert sorted(p.name for p in out.iterdir()) == []  # neither a truncated .ipynb nor a temporary file


# --- --dry-run: everything checked, nothing written or executed -------------------------------------

def test_dry_run_checks_everything_prints_the_cell_and_writes_nothing(tmp_path, tiny, capsys):
    out = tmp_path / "out" / "deeper"
    assert main(["run", str(tiny), "-p", "seed", "5", "-p", "scale", "0.25", "--profile", "smoke",
                 "--output-dir", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "would execute (kernel python3)" in printed and f"into {out / 'tiny.ipynb'}" in printed
    assert "    seed = 5\n" in printed and "    scale = 0.25\n" in printed and '    profile = "smoke"\n' in printed
    assert "nothing was written or executed" in printed
    assert not (tmp_path / "out").exists()  # not even the output folder


@pytest.mark.parametrize("argv, message", [
    (["-p", "scale", "big"], "parameter 'scale' expects float"),
    (["-p", "nope", "1"], "unknown parameter(s) ['nope']"),
    (["--kernel", "no-such-kernel"], "unknown kernel"),
])
def test_dry_run_refuses_what_a_run_refuses_with_exit_2(tmp_path, tiny, capsys, argv, message):
    assert main(["run", str(tiny), *argv, "--output-dir", str(tmp_path / "o"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_dry_run_refuses_an_output_folder_it_could_not_create(tmp_path, tiny, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["run", str(tiny), "--output-dir", str(tmp_path / "file" / "sub"), "--dry-run"]) == 2
    assert "cannot be created" in capsys.readouterr().err
