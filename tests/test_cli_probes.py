"""A hostile-but-realistic probe table of the command line (issue #13): injection through -p and
grid files, YAML bombs and tags, huge grids, existing results folders with foreign files,
unwritable paths, broken notebooks, malformed YAML, an unknown kernel, an unreachable scheduler.

Every probe asserts the exit status and a single-line stderr message ``ddlib <cmd>: error: ...``
(never a traceback), and that nothing the probe tried to run or overwrite was run or touched.
All run in-process through ``ddlib.cli.main``; none executes a notebook or a point."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ddlib.cli import main
from ddlib.io import write_json
from ddlib.sweep import Grid, run_sweep
from tests.myst import MYST_HEADER

TESTS_DIR = Path(__file__).resolve().parent

TINY = MYST_HEADER + """
```{code-cell} ipython3
:tags: [parameters]

profile = "book"            # profile
seed: int = 0               # base seed
scale: float = 1.0          # a float
label: str = None           # text
items: list = None          # a list
results_dir: str = "results"
```

```{code-cell} ipython3
print(seed)
```
"""

NO_PARAMETERS = TINY.replace(":tags: [parameters]\n", "")


def _one_error_line(capsys, cmd: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"ddlib {cmd}: error: ") or lines[0].startswith("ddlib: error: "), lines[0]
    assert len(lines[0]) < 2100
    return lines[0]


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.md"
    path.write_text(TINY)
    return path


# ----------------------------------------------------------------------------- ddlib run
INJECTION = "!!pairs [{'\"]; open(\"{marker}\", \"w\"); y = [\"': 1}]"

RUN_PROBES = [
    # (id, extra args built from (tiny, tmp), status, message regex)
    ("yaml-pairs-into-int", lambda nb, t: ["-p", "seed", INJECTION.replace("{marker}", str(t / "pwned"))], 2,
     r"parameter 'seed' expects int, got '!!pairs"),
    ("json-object-into-int", lambda nb, t: ["-p", "seed", '{"__class__": 1}'], 2, "expects int"),
    ("off-is-a-string", lambda nb, t: ["-p", "seed", "off"], 2, r"expects int, got 'off' \(str\)"),
    ("overflowing-float", lambda nb, t: ["-p", "scale", "1e400"], 2, "finite"),
    ("nan", lambda nb, t: ["-p", "scale", "NaN"], 2, "finite"),
    ("huge-int", lambda nb, t: ["-p", "seed", "9" * 5000], 2, r"2\*\*63"),
    ("long-value", lambda nb, t: ["-p", "label", "x" * 70_000], 2, "limit"),
    ("deep-value", lambda nb, t: ["-p", "items", "[" * 40 + "]" * 40], 2, "nested more than"),
    ("long-list", lambda nb, t: ["-p", "items", "[" + ",".join(["0"] * 20_001) + "]"], 2, "elements"),
    ("bool-for-float", lambda nb, t: ["-p", "scale", "true"], 2, "expects float"),
    ("unknown-name", lambda nb, t: ["-p", "sed", "1"], 2, r"unknown parameter\(s\) \['sed'\].*valid parameters"),
    ("repeated-name", lambda nb, t: ["-p", "seed", "1", "-p", "seed", "2"], 2, "more than once"),
    ("bad-profile", lambda nb, t: ["-p", "profile", "huge"], 2, "profile must be one of"),
    ("bad-profile-flag", lambda nb, t: ["--profile", "huge"], 2, "invalid choice"),
    ("bad-threads", lambda nb, t: ["--threads", "0"], 2, "--threads must be >= 1"),
    ("threads-not-int", lambda nb, t: ["--threads", "x"], 2, "invalid int value"),
    ("output-is-a-file", lambda nb, t: ["--output-dir", str(nb)], 2, "exists and is not a folder"),
    ("output-under-a-file", lambda nb, t: ["--output-dir", str(nb / "sub")], 2, "cannot create the output folder"),
    ("unknown-kernel", lambda nb, t: ["--kernel", "no-such-kernel-xyz"], 2, "unknown kernel 'no-such-kernel-xyz'"),
]


@pytest.mark.parametrize("args, status, match", [p[1:] for p in RUN_PROBES], ids=[p[0] for p in RUN_PROBES])
def test_run_probe(tmp_path, tiny, capsys, args, status, match):
    import re

    out = tmp_path / "out"
    assert main(["run", str(tiny), *args(tiny, tmp_path), *([] if "--output-dir" in args(tiny, tmp_path)
                                                           else ["--output-dir", str(out)])]) == status
    assert re.search(match, _one_error_line(capsys, "run"))
    assert not out.exists()  # refused before anything ran or was written
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name, content, match", [
    ("broken.ipynb", '{"cells": [', "not a readable notebook"),
    ("empty.ipynb", "", "not a readable notebook"),
    ("binary.ipynb", "\x00\xff" * 10, "not a readable notebook"),
    ("noparams.md", NO_PARAMETERS, "no code cell tagged 'parameters'"),
    ("notes.txt", "hello", "expected a MyST .md or an .ipynb"),
    ("missing.md", None, "no such notebook"),
])
def test_run_probe_bad_notebook(tmp_path, capsys, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["run", str(path), "--output-dir", str(tmp_path / "o")]) == 2
    assert match in _one_error_line(capsys, "run")


def test_run_probe_unwritable_output_folder(tmp_path, tiny, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert main(["run", str(tiny), "--output-dir", str(ro / "out")]) == 2
    assert "output folder" in _one_error_line(capsys, "run")


def test_run_probe_injection_is_a_string_and_the_cell_only_assigns_literals(tmp_path, tiny, capsys):
    import ast

    import nbformat

    value = INJECTION.replace("{marker}", str(tmp_path / "pwned"))
    assert main(["run", str(tiny), "-p", "label", value, "--prepare-only", "--output-dir", str(tmp_path)]) == 0
    nb = nbformat.read(tmp_path / "tiny.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    (stmt,) = ast.parse(cell.source).body
    assert isinstance(stmt, ast.Assign) and ast.literal_eval(stmt.value) == value


def test_run_probe_debug_shows_the_traceback(tmp_path, tiny):
    from ddlib.cli import CliError

    with pytest.raises(CliError, match="expects int"):
        main(["--debug", "run", str(tiny), "-p", "seed", "off", "--output-dir", str(tmp_path / "o")])
    with pytest.raises(CliError):
        main(["run", "--debug", str(tiny), "-p", "seed", "off", "--output-dir", str(tmp_path / "o")])


def test_run_help_documents_the_exit_statuses(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0  the notebook ran and every claim", "3  the notebook ran, and some claim",
                 "2  bad invocation", "1  a genuine error"):
        assert line in out


# ----------------------------------------------------------------------------- ddlib sweep
OK_GRID = "experiment: learner_point\nparams: {d: [16]}\nseeds: [0]\nfixed: {r: 1, width: 8, n_train: 10}\n"
ALIAS_BOMB = ("experiment: learner_point\nseeds: [0]\na: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
              + "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")))
SMALL_ALIAS = "params: &p {d: [1]}\nfixed: *p\nseeds: [0]\n"


def _grid_probes(tmp: Path) -> list[tuple[str, str, str, int, str]]:
    """(id, file name, content, status, message) for grid files that must be refused."""
    marker = tmp / "pwned"
    hub = tmp / "hub"
    hub.mkdir(exist_ok=True)
    (hub / "hubconf.py").write_text(f"open({str(marker)!r}, 'w').close()\ndependencies = []\n")
    return [
        ("alias-bomb", "bomb.yaml", ALIAS_BOMB, 2, "anchors and aliases"),
        ("small-alias", "alias.yaml", SMALL_ALIAS, 2, "anchors and aliases"),
        ("python-object", "obj.yaml", f"experiment: learner_point\nseeds: [0]\nparams: {{d: !!python/object/apply:"
                                      f"os.system ['touch {marker}']}}\n", 2, "tag '!!python/object/apply:os.system'"),
        ("python-name", "name.yaml", "experiment: !!python/name:os.system\nseeds: [0]\n", 2, "!!python/name"),
        ("binary", "bin.yaml", "experiment: learner_point\nseeds: [0]\nfixed: {x: !!binary aGVsbG8=}\n", 2, "!!binary"),
        ("pairs", "pairs.yaml", "experiment: learner_point\nseeds: [0]\nparams: !!pairs [{d: [1]}]\n", 2, "!!pairs"),
        ("omap", "omap.yaml", "experiment: learner_point\nseeds: [0]\nparams: !!omap [{d: [1]}]\n", 2, "!!omap"),
        ("set", "set.yaml", "experiment: learner_point\nseeds: !!set {0, 1}\n", 2, "!!set"),
        ("timestamp", "date.yaml", "experiment: learner_point\nseeds: [0]\nfixed: {day: 2024-01-01}\n", 2,
         "quote it"),
        ("malformed", "bad.yaml", "params: {d: [1, 2\nseeds: [0]\n", 2, "not valid YAML: line"),
        ("tabs", "tabs.yaml", "params:\n\td: [1]\nseeds: [0]\n", 2, "not valid YAML"),
        ("two-documents", "two.yaml", "seeds: [0]\n---\nseeds: [1]\n", 2, "not valid YAML"),
        ("duplicate-key", "dup.yaml", "seeds: [0]\nseeds: [1]\n", 2, "appears twice"),
        ("duplicate-key-json", "dup.json", '{"experiment": "learner_point", "seeds": [0], "seeds": [1]}', 2, "appears twice"),
        ("deep-yaml", "deep.yaml", "seeds: [0]\nx: " + "[" * 5000 + "]" * 5000 + "\n", 2, "nested more than"),
        ("deep-json", "deep.json", '{"seeds": [0], "x": ' + "[" * 100_000 + "]" * 100_000 + "}", 2, "nested more than"),
        ("json-nan", "nan.json", '{"seeds": [0], "fixed": {"x": NaN}}', 2, "NaN is not allowed"),
        ("yaml-inf", "inf.yaml", "experiment: learner_point\nseeds: [0]\nfixed: {x: .inf}\n", 2, "finite"),
        ("huge-int", "int.yaml", "seeds: [" + "9" * 5000 + "]\n", 2, "unreadable"),
        ("too-large", "big.yaml", "seeds: [0]\n" + "# padding\n" * 110_000, 2, "larger than 1,000,000 bytes"),
        ("not-utf8", "latin.yaml", "seeds: [0]\nx: caf\xe9\n", 2, "not UTF-8"),
        ("not-a-mapping", "list.yaml", "- 1\n- 2\n", 2, "must be a mapping"),
        ("unknown-key", "key.yaml", "seeds: [0]\nparam: {d: [1]}\n", 2, r"unknown grid keys \['param'\]"),
        ("long-repr", "long.yaml", "seeds: [0]\nparams: {d: [" + ",".join(["[1]"] * 20_000) + "]}\n", 2, "scalar"),
        ("wrong-suffix", "grid.txt", OK_GRID, 2, "must end in .yaml"),
        ("torch-hub", "hub.yaml", f"experiment: torch.hub.load\nseeds: [0]\nfixed: {{repo_or_dir: {str(hub)!r}, "
                                  f"model: m, source: local, trust_repo: true}}\n", 2,
         r"'torch.hub.load' is not registered.*\['learner_point', 'memory_point', 'stage1_curve_point'\]"),
        ("os-system", "sys.yaml", f"experiment: os.system\nseeds: [0]\nfixed: {{command: 'touch {marker}'}}\n", 2,
         "'os.system' is not registered"),
        ("bad-experiment-name", "exp.yaml", "experiment: 'os.system(\"id\")'\nseeds: [0]\n", 2,
         "must be a registered name or a dotted name"),
        ("no-experiment", "noexp.yaml", "seeds: [0]\n", 2, "names no experiment"),
        ("huge-grid", "huge.yaml", "experiment: learner_point\nseeds: [0]\nparams:\n" + "".join(
            f"  p{i}: [{','.join(map(str, range(100)))}]\n" for i in range(4)), 2,
         r"100,000,000 points \(100 p0 x 100 p1 x 100 p2 x 100 p3 x 1 seeds\), more than max_points=10,000"),
        ("million-grid", "million.yaml", "experiment: learner_point\nseeds: [0]\nparams:\n" + "".join(
            f"  p{i}: [{','.join(map(str, range(10)))}]\n" for i in range(6)), 2, "1,000,000 points"),
    ]


def test_sweep_probe_grid_files(tmp_path, capsys):
    """Every hostile grid file is refused with one line, quickly, and nothing it names runs."""
    import re

    results = tmp_path / "results"
    for name, fname, content, status, match in _grid_probes(tmp_path):
        path = tmp_path / fname
        path.write_bytes(content.encode("latin-1") if name == "not-utf8" else content.encode())
        start = time.perf_counter()
        assert main(["sweep", str(path), "--results", str(results), "--no-progress"]) == status, name
        assert time.perf_counter() - start < 10, name  # no 30 s alias expansion, no 10^8 points built
        line = _one_error_line(capsys, "sweep")
        assert re.search(match, line), (name, line)
        assert not results.exists(), name
    assert not (tmp_path / "pwned").exists()


def test_sweep_probe_command_line_refusals(tmp_path, capsys):
    grid = tmp_path / "ok.yaml"
    grid.write_text(OK_GRID)
    r = str(tmp_path / "r")
    for args, match in [
        (["--experiment", "os.system"], "'os.system' is not registered"),
        (["--experiment", "sweep_points.torch_point"], "'sweep_points.torch_point' is not registered"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --backend dask"),
        (["--max-points", "0"], "--max-points must be >= 1"),
        (["--workers", "x"], "invalid int value"),
        (["--backend", "slurm"], "invalid choice"),
        (["--retries", "-1"], "retries must be"),
        (["--allow-experiment", "os.system; rm"], "must be a registered name or a dotted name"),
    ]:
        assert main(["sweep", str(grid), "--results", r, "--no-progress", *args]) == 2, args
        assert match in _one_error_line(capsys, "sweep"), args
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "no such grid file" in _one_error_line(capsys, "sweep")
    assert not (tmp_path / "r").exists()


def test_sweep_probe_unreachable_and_malformed_scheduler(tmp_path, capsys):
    pytest.importorskip("distributed")
    grid = tmp_path / "ok.yaml"
    grid.write_text(OK_GRID)
    start = time.perf_counter()
    assert main(["sweep", str(grid), "--results", str(tmp_path / "r1"), "--backend", "dask", "--scheduler",
                 "tcp://127.0.0.1:1", "--connect-timeout", "1", "--no-progress"]) == 2
    assert "cannot reach the dask scheduler at 'tcp://127.0.0.1:1' within 1 s" in _one_error_line(capsys, "sweep")
    assert time.perf_counter() - start < 15
    assert main(["sweep", str(grid), "--results", str(tmp_path / "r2"), "--backend", "dask", "--scheduler",
                 "not-an-address", "--no-progress"]) == 2
    assert "not a dask scheduler address" in _one_error_line(capsys, "sweep")


# ----------------------------------------------------------------------------- results folders
@pytest.fixture()
def points_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    return ["--allow-experiment", "sweep_points.torch_point", "--backend", "inline", "--no-progress"]


def _torch_grid(tmp_path: Path, xs: list[int], name: str = "g.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"experiment": "sweep_points.torch_point", "params": {"x": xs}, "seeds": [0]}))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("foreign", ["notes.txt", ".notes.tmp", ".table.csv.tmp", "points/readme.md",
                                     "sub/data.bin"])
def test_sweep_probe_existing_folder_with_foreign_files_is_left_alone(tmp_path, capsys, points_on_path, foreign):
    folder = tmp_path / "existing"
    (folder / Path(foreign).parent).mkdir(parents=True, exist_ok=True)
    (folder / foreign).write_text("mine")
    write_json(folder / "failures.json", {"mine": True})
    (folder / "table.csv").write_text("a,b\n1,2\n")
    before = _snapshot(folder)
    assert main(["sweep", str(_torch_grid(tmp_path, [0])), "--results", str(folder), *points_on_path]) == 2
    assert "holds files ddlib did not write" in _one_error_line(capsys, "sweep")
    assert _snapshot(folder) == before and not (folder / ".lock").exists()


def test_sweep_probe_folder_of_ddlib_files_without_manifest_is_refused(tmp_path, capsys, points_on_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    (folder / "table.csv").write_text("a,b\n1,2\n")
    (folder / "failures.json").write_text("{}")
    before = _snapshot(folder)
    assert main(["sweep", str(_torch_grid(tmp_path, [0])), "--results", str(folder), *points_on_path]) == 2
    assert "not a sweep folder (no sweep.json)" in _one_error_line(capsys, "sweep")
    assert _snapshot(folder) == before


def test_sweep_probe_results_that_are_files_or_under_files(tmp_path, capsys, points_on_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    grid = _torch_grid(tmp_path, [0])
    assert main(["sweep", str(grid), "--results", str(afile), *points_on_path]) == 2
    assert "exists and is not a folder" in _one_error_line(capsys, "sweep")
    assert main(["sweep", str(grid), "--results", str(afile / "sub"), *points_on_path]) == 2
    assert "is not a folder" in _one_error_line(capsys, "sweep")
    assert afile.read_text() == "mine"


def test_sweep_reruns_its_own_folder_but_never_overwrites_another_grids_table(tmp_path, capsys, points_on_path):
    folder = tmp_path / "results"
    grid_a, grid_b = _torch_grid(tmp_path, [0, 1], "a.json"), _torch_grid(tmp_path, [2], "b.json")
    assert main(["sweep", str(grid_a), "--results", str(folder), *points_on_path]) == 0
    # a killed run's own temporaries are removed; its table and failures are this grid's
    (folder / ".table.csv.abcd1234.tmp").write_text("partial")
    (folder / "points" / ".0123456789abcdef0123.json.abcd1234.tmp").write_text("partial")
    capsys.readouterr()
    assert main(["sweep", str(grid_a), "--results", str(folder), *points_on_path]) == 0
    capsys.readouterr()
    assert not list(folder.rglob("*.tmp"))
    table = (folder / "table.csv").read_bytes()
    before = _snapshot(folder)
    assert main(["sweep", str(grid_b), "--results", str(folder), *points_on_path]) == 2
    assert "holds a sweep of another grid" in _one_error_line(capsys, "sweep")
    assert _snapshot(folder) == before and (folder / "table.csv").read_bytes() == table


def test_sweep_failures_file_is_replaced_only_by_the_new_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    folder = tmp_path / "results"
    grid = tmp_path / "raise.json"
    grid.write_text(json.dumps({"experiment": "sweep_points.raising_point", "params": {"x": [0, 1]}, "seeds": [0],
                                "fixed": {"log": str(tmp_path / "log")}}))
    args = ["sweep", str(grid), "--results", str(folder), "--allow-experiment", "sweep_points.raising_point",
            "--backend", "inline", "--retries", "0", "--no-progress"]
    assert main(args) == 1
    line = _one_error_line(capsys, "sweep")
    assert "1 sweep point(s) failed" in line and "point x=1 always fails" in line and "failures.json" in line
    first = json.loads((folder / "failures.json").read_text())
    assert main(args) == 1  # the rerun computes only the failed point and replaces the record
    capsys.readouterr()
    assert json.loads((folder / "failures.json").read_text())["failures"][0]["point"] == first["failures"][0]["point"]


def test_api_grids_of_one_experiment_share_a_folder_each_with_its_own_table(tmp_path, monkeypatch):
    """run_memory's lines share one folder: allowed from Python, each grid keeps its own table."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    import sweep_points

    folder = tmp_path / "shared"
    first = run_sweep(sweep_points.torch_point, Grid(params={"x": [0, 1]}, seeds=[0]), results_dir=folder,
                      backend="inline", progress=False)
    second = run_sweep(sweep_points.torch_point, Grid(params={"x": [1, 2]}, seeds=[0]), results_dir=folder,
                       backend="inline", progress=False)
    import pandas as pd

    (other,) = [p for p in folder.glob("table*.csv") if p.name != "table.csv"]
    assert other.name.startswith("table-")
    pd.testing.assert_frame_equal(pd.read_csv(folder / "table.csv"), first)
    pd.testing.assert_frame_equal(pd.read_csv(other), second)
    assert len(list((folder / "points").glob("*.json"))) == 3  # x=1 computed once
    assert list(second.x) == [1, 2]
    with pytest.raises(ValueError, match="another grid"):
        run_sweep(sweep_points.torch_point, Grid(params={"x": [3]}, seeds=[0]), results_dir=folder,
                  backend="inline", progress=False, same_grid=True)
