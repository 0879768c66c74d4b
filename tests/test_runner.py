"""ddlib run: parameter parsing, refusal of unknown names before anything runs, injection, outputs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddlib.cli import main
from ddlib.runner import RunnerError, notebook_parameters, parse_value, prepare_notebook, run_notebook

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "02_generalization.md"

TINY_NOTEBOOK = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

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
