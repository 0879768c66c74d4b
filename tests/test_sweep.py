"""ddlib.sweep with real components: spawn process pools, a real Dask LocalCluster on 127.0.0.1,
the CLI in a subprocess killed with SIGKILL.  Point functions live in tests/sweep_points.py,
imported by name in the workers (this folder is put on sys.path and PYTHONPATH)."""
from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import ddlib.experiments  # noqa: F401  (registers the book's point functions, as the command line does)
from ddlib.io import ArtifactError, read_json, write_json
from ddlib.sweep import Grid, SweepError, UnknownExperiment, point_key, register_experiment, run_sweep
from ddlib.sweep.registry import unregister_experiment
from ddlib.sweep.backends import WORKER_DIED
from ddlib.sweep.registry import resolve_registered
from ddlib.sweep.registry import resolve_experiment

TESTS_DIR = Path(__file__).resolve().parent
TORCH_POINT = "sweep_points.torch_point"
SMALL = Grid(params={"x": [0, 1, 2]}, seeds=[0, 1], fixed={"log": None, "sleep": 0.0})


@pytest.fixture(scope="module", autouse=True)
def workers_import_tests_dir():
    """Spawned pool workers inherit sys.path; Dask workers and CLI subprocesses read PYTHONPATH.
    The test points are registered, so run_sweep accepts their names (CLI subprocesses pass
    --allow-experiment instead)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TESTS_DIR))
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
        import sweep_points

        names = ["torch_point", "raising_point", "crashing_point"]
        register_experiment({name: getattr(sweep_points, name) for name in names})
        yield
        for name in names:
            unregister_experiment(name)


@pytest.fixture(scope="module")
def local_table(tmp_path_factory) -> pd.DataFrame:
    return run_sweep(TORCH_POINT, SMALL, results_dir=tmp_path_factory.mktemp("local"), backend="local",
                     workers=2, progress=False)


def _log_lines(log: Path, kind: str) -> list[tuple[int, int, int]]:
    if not log.exists():
        return []
    return [tuple(map(int, line.split()[1:])) for line in log.read_text().splitlines() if line.startswith(kind)]


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    """Poll until ``condition()``; the timeout only guards against a hang (not a speed check)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _cli(*args: str, cwd: Path) -> subprocess.Popen:
    allow = [a for name in ("torch_point", "raising_point") for a in ("--allow-experiment", f"sweep_points.{name}")]
    return subprocess.Popen([sys.executable, "-m", "ddlib.cli", "sweep", *args, *allow, "--no-progress"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _write_grid(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec))
    return path


# ----------------------------------------------------------------------------- grid
def test_grid_points_are_fixed_then_product_then_seed_in_order():
    grid = Grid(params={"r": [1, 2], "d": [32, 64]}, seeds=[0, 1, 2], fixed={"width": 512})
    points = list(grid.points())  # an iterator: points are produced one at a time
    assert len(points) == len(grid) == grid.size() == 12
    assert points[0] == {"width": 512, "r": 1, "d": 32, "seed": 0}
    assert points[1] == {"width": 512, "r": 1, "d": 32, "seed": 1}
    assert points[3] == {"width": 512, "r": 1, "d": 64, "seed": 0}
    assert points[-1] == {"width": 512, "r": 2, "d": 64, "seed": 2}


def test_grid_rejects_bad_specs_naming_the_problem(tmp_path):
    with pytest.raises(ValueError, match="'seed' is reserved"):
        Grid(params={"seed": [0, 1]}, seeds=[0])
    with pytest.raises(ValueError, match="both swept"):
        Grid(params={"d": [1]}, seeds=[0], fixed={"d": 2})
    with pytest.raises(ValueError, match="repeated"):
        Grid(params={"d": [1, 1]}, seeds=[0])
    with pytest.raises(TypeError, match="seeds must be integers"):
        Grid(params={}, seeds=[0.5])
    with pytest.raises(TypeError, match="scalar"):
        Grid(params={"d": [[1, 2]]}, seeds=[0])
    with pytest.raises(ValueError, match="unknown grid keys"):
        Grid.from_dict({"params": {}, "seeds": [0], "seed": 1})
    bad = tmp_path / "grid.yaml"
    bad.write_text("params: {d: []}\nseeds: [0]\n")
    with pytest.raises(ValueError, match="grid.yaml.*non-empty"):
        Grid.from_file(bad)


def test_grid_from_yaml_file_keeps_experiment_and_order(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("experiment: ddlib.experiments.learner.learner_point\nparams:\n  d: [16, 32]\n  r: [1]\n"
                    "seeds: [3]\nfixed: {width: 8}\n")
    grid = Grid.from_file(path)
    assert grid.experiment == "ddlib.experiments.learner.learner_point"
    assert list(grid.points()) == [{"width": 8, "d": 16, "r": 1, "seed": 3}, {"width": 8, "d": 32, "r": 1, "seed": 3}]


def test_point_key_depends_on_experiment_point_and_nothing_else():
    p = {"d": 32, "seed": 0}
    assert point_key("m.f", p) == point_key("m.f", {"seed": 0, "d": 32})  # canonical: key order ignored
    assert point_key("m.f", p) != point_key("m.g", p)
    assert point_key("m.f", p) != point_key("m.f", {"d": 32, "seed": 1})


def test_run_sweep_rejects_functions_workers_cannot_import(tmp_path):
    with pytest.raises(ValueError, match="module-level function"):
        run_sweep(lambda seed: {}, SMALL, results_dir=tmp_path, progress=False)
    with pytest.raises(UnknownExperiment, match="'no_such_module_xyz.f' is not registered.*learner_point"):
        run_sweep("no_such_module_xyz.f", SMALL, results_dir=tmp_path, progress=False)
    with pytest.raises(ImportError, match="cannot import module"):
        run_sweep("no_such_module_xyz.f", SMALL, results_dir=tmp_path, progress=False, allow=["no_such_module_xyz.f"])
    with pytest.raises(ValueError, match="backend must be one of"):
        run_sweep(TORCH_POINT, SMALL, results_dir=tmp_path, backend="slurm", progress=False)


def test_example_grid_names_an_experiment_that_accepts_every_point():
    grid = Grid.from_file(TESTS_DIR.parent / "examples" / "sweep_grid.yaml")
    fn = resolve_experiment(resolve_registered(grid.experiment))
    for point in grid.points():
        inspect.signature(fn).bind(**point)  # raises TypeError on a missing or unknown argument


def test_cli_exits_2_and_names_the_problem_for_a_bad_grid_file(tmp_path, capsys):
    from ddlib.cli import main

    bad = _write_grid(tmp_path / "grid.json", {"experiment": TORCH_POINT, "params": {"x": [1, 1]}, "seeds": [0]})
    assert main(["sweep", str(bad), "--results", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "repeated values" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_registry_accepts_short_and_dotted_names_and_refuses_others_before_importing(monkeypatch):
    import sys

    from ddlib.sweep import EXPERIMENTS

    assert resolve_registered("learner_point") == "ddlib.experiments.learner.learner_point"
    assert resolve_registered("ddlib.experiments.learner.learner_point") == "ddlib.experiments.learner.learner_point"
    for short, dotted in EXPERIMENTS.items():  # every registered point imports and is a function
        assert callable(resolve_experiment(resolve_registered(short))), dotted
    monkeypatch.delitem(sys.modules, "antigravity", raising=False)
    with pytest.raises(UnknownExperiment, match=r"'antigravity.fly' is not registered.*'learner_point'"):
        resolve_registered("antigravity.fly")
    assert "antigravity" not in sys.modules  # refused before any import
    assert resolve_registered("antigravity.fly", allow=["antigravity.fly"]) == "antigravity.fly"


def test_register_experiment_lets_grids_name_a_users_function():
    import sweep_points

    assert resolve_registered("torch_point") == TORCH_POINT  # registered by the module fixture
    with pytest.raises(ValueError, match="already registered"):
        register_experiment(sweep_points.raising_point, name="torch_point")
    with pytest.raises(ValueError, match="module-level function"):
        register_experiment(lambda seed: {}, name="anonymous")
    assert register_experiment({"tp2": sweep_points.torch_point}) == {"tp2": TORCH_POINT}
    unregister_experiment("tp2")
    with pytest.raises(UnknownExperiment):
        resolve_registered("tp2")


def test_a_huge_grid_is_counted_and_refused_without_building_a_point(tmp_path):
    grid = Grid(params={f"p{i}": list(range(100)) for i in range(4)}, seeds=[0, 1])
    assert grid.size() == len(grid) == 2 * 10 ** 8
    assert next(grid.points()) == {"p0": 0, "p1": 0, "p2": 0, "p3": 0, "seed": 0}  # lazily, one at a time
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"200,000,000 points .* more than max_points=10,000"):
        run_sweep(TORCH_POINT, grid, results_dir=tmp_path / "r", progress=False)
    assert time.perf_counter() - start < 2 and not (tmp_path / "r").exists()


def test_backends_pull_points_as_they_go_not_all_at_once():
    from ddlib.sweep.backends import run_inline

    events = []

    def todo():
        for x in range(5):
            events.append(("pull", x))
            yield f"k{x}", {"x": x}

    class Tracker:
        def finish(self, key, out):
            events.append(("done", int(key[1:])))
            return False

    run_inline("sweep_points.torch_point", todo(), Tracker())
    assert events == [(kind, x) for x in range(5) for kind in ("pull", "done")]


# ----------------------------------------------------------------------------- local backend
def test_local_table_has_one_row_per_point_with_parameters_seed_and_results(local_table):
    assert list(local_table.columns) == ["log", "sleep", "x", "seed", "value", "x_squared"]
    assert list(zip(local_table.x, local_table.seed)) == [(p["x"], p["seed"]) for p in SMALL.points()]
    assert list(local_table.x_squared) == [p["x"] ** 2 for p in SMALL.points()]


def test_local_backend_gives_bit_identical_results_for_one_and_two_workers(local_table, tmp_path):
    one = run_sweep(TORCH_POINT, SMALL, results_dir=tmp_path, backend="local", workers=1, progress=False)
    pd.testing.assert_frame_equal(one, local_table, check_exact=True)


def test_cli_sweep_killed_with_sigkill_resumes_and_completes_every_point_exactly_once(tmp_path):
    psutil = pytest.importorskip("psutil")
    log, results = tmp_path / "log.txt", tmp_path / "results"
    grid = _write_grid(tmp_path / "grid.json", {"experiment": TORCH_POINT, "params": {"x": [0, 1, 2, 3, 4]},
                                                "seeds": [0, 1], "fixed": {"log": str(log), "sleep": 0.3}})
    points_dir = results / "points"
    proc = _cli(str(grid), "--results", str(results), "--workers", "2", cwd=tmp_path)
    _wait_for(lambda: len(list(points_dir.glob("*.json"))) >= 3 or proc.poll() is not None, "3 stored points")
    assert proc.poll() is None, f"the sweep finished before it could be killed: {proc.communicate()}"
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []  # pool workers of a killed sweep exit instead of running on as orphans

    stored_before = {p.stem for p in points_dir.glob("*.json")}
    starts_before = len(_log_lines(log, "start"))
    assert 3 <= len(stored_before) < 10

    table = run_sweep(None, Grid.from_file(grid), results_dir=results, workers=1, progress=False)

    grid_points = list(Grid.from_file(grid).points())
    keys = {point_key(TORCH_POINT, p): (p["x"], p["seed"]) for p in grid_points}
    rerun_runs = sorted(s[:2] for s in _log_lines(log, "start")[starts_before:])
    assert rerun_runs == sorted(xs for k, xs in keys.items() if k not in stored_before)  # each missing point once
    assert sorted(p.name for p in points_dir.iterdir()) == sorted(f"{k}.json" for k in keys)  # no tmp, no extra
    for k in keys:
        assert read_json(points_dir / f"{k}.json")["key"] == k
    assert sorted(zip(table.x, table.seed)) == sorted(keys.values())
    pd.testing.assert_frame_equal(pd.read_csv(results / "table.csv"), table)


def test_point_that_always_raises_is_recorded_with_traceback_and_cli_exits_nonzero(tmp_path):
    log, results = tmp_path / "log.txt", tmp_path / "results"
    grid = _write_grid(tmp_path / "grid.json", {"experiment": "sweep_points.raising_point",
                                                "params": {"x": [0, 1, 2]}, "seeds": [0],
                                                "fixed": {"log": str(log)}})
    proc = _cli(str(grid), "--results", str(results), "--workers", "1", "--retries", "1", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    assert "failures.json" in err and "always fails" in err
    (failure,) = read_json(results / "failures.json")["failures"]
    assert failure["point"]["x"] == 1 and failure["attempts"] == 2
    assert "Traceback" in failure["error"] and "raising_point" in failure["error"]
    assert "ValueError: point x=1 always fails" in failure["error"]
    assert sorted(s[0] for s in _log_lines(log, "start")) == [0, 1, 1, 2]  # 1 + retries attempts, no more
    assert sorted(pd.read_csv(results / "table.csv").x) == [0, 2]


def test_worker_that_dies_is_replaced_and_only_the_crashing_point_fails(tmp_path):
    grid = Grid(params={"mode": ["ok", "crash_once", "crash_always"]}, seeds=[0],
                fixed={"marker_dir": str(tmp_path)})
    with pytest.raises(SweepError) as info:
        run_sweep("sweep_points.crashing_point", grid, results_dir=tmp_path / "results", workers=1,
                  retries=1, progress=False)
    (failure,) = info.value.failures
    assert failure["point"]["mode"] == "crash_always" and failure["attempts"] == 2
    assert failure["error"] == WORKER_DIED
    assert list(info.value.table["mode"]) == ["ok", "crash_once"]
    assert (tmp_path / "crash_always-0").read_text().count("run") == 2
    assert (tmp_path / "crash_once-0").read_text().count("run") == 2


def test_corrupted_or_malformed_result_files_are_recomputed(tmp_path):
    log, results = tmp_path / "log.txt", tmp_path / "results"
    grid = Grid(params={"x": [0, 1, 2]}, seeds=[0], fixed={"log": str(log), "sleep": 0.0})
    first = run_sweep(TORCH_POINT, grid, results_dir=results, workers=1, progress=False)
    points = list(grid.points())
    flipped = results / "points" / f"{point_key(TORCH_POINT, points[0])}.json"
    malformed = results / "points" / f"{point_key(TORCH_POINT, points[1])}.json"
    data = bytearray(flipped.read_bytes())
    at = data.index(b'"value": ') + len(b'"value": ') + 2  # a digit of the stored value
    data[at] = ord("0") + (data[at] - ord("0") + 1) % 10
    flipped.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        read_json(flipped)
    record = read_json(malformed)
    record["point"] = {**record["point"], "x": 7}  # checksum valid, but not this point's record
    write_json(malformed, record)

    starts = len(_log_lines(log, "start"))
    second = run_sweep(TORCH_POINT, grid, results_dir=results, workers=1, progress=False)
    assert sorted(s[0] for s in _log_lines(log, "start")[starts:]) == [0, 1]  # those two, once each
    pd.testing.assert_frame_equal(second, first, check_exact=True)
    assert read_json(flipped)["point"] == points[0]


# ----------------------------------------------------------------------------- dask backend
def test_dask_local_cluster_gives_bit_identical_results_to_local_backend(local_table, tmp_path):
    pytest.importorskip("distributed")
    table = run_sweep(TORCH_POINT, SMALL, results_dir=tmp_path, backend="dask", workers=2, progress=False)
    pd.testing.assert_frame_equal(table, local_table, check_exact=True)


def test_dask_sweep_completes_when_a_worker_is_killed_mid_point(local_table, tmp_path):
    distributed = pytest.importorskip("distributed")
    log, release = tmp_path / "log.txt", tmp_path / "release"
    grid = Grid(params={"x": [0, 1, 2]}, seeds=[0, 1], fixed={"log": str(log), "sleep": 0.2, "hold": str(release)})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        with ThreadPoolExecutor(1) as pool:
            sweep = pool.submit(run_sweep, TORCH_POINT, grid, results_dir=tmp_path / "results", backend="dask",
                                scheduler=cluster.scheduler_address, progress=False)
            held = lambda: [s for s in _log_lines(log, "start") if s[:2] == (0, 0)]  # noqa: E731
            _wait_for(lambda: held() and len(_log_lines(log, "end")) >= 1, "the held point and another one")
            victim_pid = held()[0][2]  # blocked in point (0, 0) until `release` exists
            assert victim_pid in worker_pids
            os.kill(victim_pid, signal.SIGKILL)
            release.touch()
            table = sweep.result(timeout=300)
    runs = [s for s in _log_lines(log, "start") if s[:2] == (0, 0)]
    assert len(runs) == 2 and runs[0][2] == victim_pid != runs[1][2]  # killed there, rerun elsewhere
    assert len(_log_lines(log, "end")) == len(grid)  # every point completed exactly once
    cols = ["x", "seed", "value", "x_squared"]
    pd.testing.assert_frame_equal(table[cols], local_table[cols], check_exact=True)


# ----------------------------------------------------------------------------- grid integers
# Seeds lie in [0, 2**63) and integer values in [-2**63, 2**63), as ddlib run requires: anything
# else is refused when the grid is built, in one line naming the key and the value.
from ddlib.values import InvalidValue  # noqa: E402


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "\r" not in text, text
    return text


def test_grid_refuses_a_seed_of_2_to_the_63():
    with pytest.raises(InvalidValue, match=r"seeds must be integers in \[0, 2\*\*63\).*got 9223372036854775808$") as exc:
        Grid(params={"x": [1]}, seeds=[0, 2 ** 63])
    _one_line(exc)


def test_grid_refuses_a_negative_seed():
    with pytest.raises(InvalidValue, match=r"seeds must be integers in \[0, 2\*\*63\).*got -1$") as exc:
        Grid(params={"x": [1]}, seeds=[-1])
    _one_line(exc)


def test_grid_accepts_the_largest_seed():
    assert Grid(params={}, seeds=[0, 2 ** 63 - 1]).seeds == (0, 2 ** 63 - 1)


@pytest.mark.parametrize("value", [2 ** 63, -2 ** 63 - 1], ids=["2**63", "-2**63-1"])
def test_grid_refuses_a_params_integer_out_of_range(value):
    with pytest.raises(InvalidValue, match=rf"params\['x'\] value: integers must lie in \[-2\*\*63, 2\*\*63\), "
                                           rf"got {value}$") as exc:
        Grid(params={"x": [1, value]}, seeds=[0])
    _one_line(exc)


def test_grid_refuses_a_fixed_integer_out_of_range():
    with pytest.raises(InvalidValue, match=r"fixed\['n'\]: integers must lie in \[-2\*\*63, 2\*\*63\)") as exc:
        Grid(params={}, seeds=[0], fixed={"n": 10 ** 30})
    _one_line(exc)


def test_grid_accepts_the_integer_bounds_as_values():
    grid = Grid(params={"x": [-2 ** 63, 2 ** 63 - 1]}, seeds=[0])
    assert grid.params["x"] == (-2 ** 63, 2 ** 63 - 1)


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_grid_file_with_an_oversized_seed_is_refused_naming_file_and_seed(tmp_path, suffix):
    path = tmp_path / f"grid.{suffix}"
    path.write_text(json.dumps({"params": {"x": [1]}, "seeds": [0, 2 ** 64]}))  # JSON is valid YAML
    with pytest.raises(InvalidValue, match=rf"grid\.{suffix}: seeds must be integers in \[0, 2\*\*63\).*"
                                           rf"got {2 ** 64}$") as exc:
        Grid.from_file(path)
    _one_line(exc)


def test_cli_refuses_a_grid_with_an_oversized_seed_before_writing_anything(tmp_path, capsys):
    from ddlib.cli import main

    grid = _write_grid(tmp_path / "grid.json", {"experiment": TORCH_POINT, "params": {"x": [1]}, "seeds": [2 ** 63]})
    assert main(["sweep", str(grid), "--results", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "seeds must be integers in [0, 2**63)" in err and str(2 ** 63) in err
    assert not (tmp_path / "r").exists()
