"""ddlib.evaluation and ``ddlib evaluate``: a distilled set survives distill -> save -> evaluate with
its recorded theta0 scored exactly as ``fit`` scores it, fresh seeds skip the recorded one, and bad
or mismatched files are refused with one line (exit 2) before anything runs; a failure while
scoring exits 1."""
from __future__ import annotations

import json

import pytest
import torch

from ddlib import MultiIndexTask, TwoLayerNet, distill, evaluate
from ddlib.cli import main
from ddlib.distillers import DistilledSet
from ddlib.cli.evaluate import parse_task_spec
from ddlib.evaluation import plan_evaluation
from ddlib.io import ArtifactError, read_json, save_artifact
from ddlib.metrics import test_mse as normalised_test_mse

N_TEST = 2000


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    task = MultiIndexTask(8, 2, seed=0)
    net = TwoLayerNet.init(8, 32, seed=1)
    X, y = task.sample(400, seed=2)
    ds = distill(net, X, y, 4, 8, steps1=50, steps2=50, task=task)
    folder = tmp_path_factory.mktemp("sets")
    ds.save(folder / "set.pt")
    DistilledSet(ds.stage1, ds.stage2, {k: v for k, v in ds.metadata.items() if k != "task"}).save(folder / "notask.pt")
    same = (torch.ones(6, 8, dtype=torch.float64), y[:6])  # identical rows: singular for a tiny ridge
    DistilledSet(ds.stage1, same, ds.metadata).save(folder / "singular.pt")
    return task, net, ds, folder


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("ddlib evaluate: error: "), lines[0]
    return lines[0]


def test_round_trip_scores_the_recorded_theta0_exactly_and_fresh_seeds_skip_it(made):
    task, net, ds, folder = made
    result = evaluate(folder / "set.pt", k=3, seed_base=0, n_test=N_TEST, test_seed=9)
    recorded, fresh = result.rows
    assert (recorded.theta0, recorded.seeds, recorded.width) == ("recorded", (1,), 32)
    assert recorded.test_mse[0] == normalised_test_mse(ds.fit(net), task, N_TEST, seed=9)
    assert fresh.seeds == (0, 2, 3)  # seed_base 0, without the recorded seed 1
    for seed, value in zip(fresh.seeds, fresh.test_mse):
        assert value == normalised_test_mse(ds.fit(TwoLayerNet.init(8, 32, seed=seed)), task, N_TEST, seed=9)
    assert fresh.interval.n == 3 and fresh.interval.lo < fresh.interval.estimate < fresh.interval.hi
    assert result.plan.task == task and result.plan.task_source == "recorded"
    assert f"memory: {ds.memory_floats:,} floats" in result.format()


def test_widths_and_ridges_make_a_grid_of_rows(made):
    _, _, ds, _ = made
    result = evaluate(ds, k=2, widths=[32, 16], ridges=[1e-3, 1e-1], n_test=N_TEST)
    kinds = [(r.width, r.ridge, r.theta0) for r in result.rows]
    assert kinds == [(32, 1e-3, "recorded"), (32, 1e-3, "fresh"), (32, 1e-1, "recorded"), (32, 1e-1, "fresh"),
                     (16, 1e-3, "fresh"), (16, 1e-1, "fresh")]
    record = result.as_dict()
    json.dumps(record)
    assert record["memory_floats"] == ds.memory_floats and len(record["rows"]) == 6


def test_a_set_without_a_task_record_needs_one_and_a_given_task_replaces_the_record(made):
    task, _, ds, folder = made
    with pytest.raises(ValueError, match=r"notask.pt records no task \(it was distilled without task=...\): pass"):
        evaluate(folder / "notask.pt")
    given = MultiIndexTask(8, 2, "aniso", seed=0)
    assert evaluate(folder / "notask.pt", task=given, k=2, n_test=N_TEST).plan.task_source == "given"
    assert parse_task_spec("r=2, link=he2, seed=0", 8) == task
    assert evaluate(ds, task=given, k=2, n_test=N_TEST).plan.task == given


def test_bad_or_mismatched_sets_are_refused(made, tmp_path):
    _, _, ds, folder = made
    torch.save({"X1": ds.stage1.X}, tmp_path / "plain.pt")
    with pytest.raises(ArtifactError, match=r"plain.pt is not a ddlib artefact \(expected a DistilledSet file\)"):
        evaluate(tmp_path / "plain.pt")
    raw = bytearray((folder / "set.pt").read_bytes())
    mid = len(raw) // 2  # a run of bytes, not one: a single flip can land in the archive's alignment padding
    raw[mid:mid + 256] = bytes(b ^ 0xFF for b in raw[mid:mid + 256])
    (tmp_path / "bad.pt").write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"bad.pt"):
        evaluate(tmp_path / "bad.pt")
    save_artifact(tmp_path / "other.pt", "Sweep", {}, {})
    with pytest.raises(ArtifactError, match=r"other.pt holds a 'Sweep', expected a DistilledSet"):
        evaluate(tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"the set's points have d=8 but the given task has d=9"):
        evaluate(ds, task=MultiIndexTask(9, 2))
    wrong = DistilledSet(ds.stage1, ds.stage2, {**ds.metadata, "task": {**ds.metadata["task"], "d": 7}})
    with pytest.raises(ValueError, match=r"the set's points have d=8 but the recorded task has d=7"):
        evaluate(wrong)
    odd = DistilledSet(ds.stage1, ds.stage2, {**ds.metadata, "theta0": {"d": 5, "width": 32, "seed": 1}})
    with pytest.raises(ArtifactError, match=r"its recorded theta0 has d=5 but its points have d=8"):
        evaluate(odd)
    with pytest.raises(ArtifactError, match=r"its task record .* is not a valid task: link must be one of"):
        evaluate(DistilledSet(ds.stage1, ds.stage2, {**ds.metadata, "task": {**ds.metadata["task"], "link": "x"}}))
    with pytest.raises(ValueError, match=r"records no theta0 width: pass widths"):
        evaluate(DistilledSet(ds.stage1, ds.stage2, {"task": ds.metadata["task"]}))
    with pytest.raises(FileNotFoundError, match=r"no such file"):
        evaluate(tmp_path / "missing.pt")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(k=0), ValueError, r"k must be >= 1, got 0"),
    (dict(widths=[3]), ValueError, r"widths\[0\] must be even"),
    (dict(widths="32"), ValueError, r"widths must be a sequence of 1 to 64 even widths"),
    (dict(ridges=[0.0]), ValueError, r"grid\[0\] must be > 0, got 0.0"),
    (dict(seed_base=-1), ValueError, r"seed_base must be >= 0, got -1"),
    (dict(n_test=1), ValueError, r"n_test must be >= 2, got 1"),
    (dict(task="he2"), TypeError, r"task must be a MultiIndexTask, got str"),
    (dict(learner="T1"), TypeError, r"learner must be a TwoStageLearner, got str"),
])
def test_bad_options_are_refused_before_anything_runs(made, kwargs, error, match):
    with pytest.raises(error, match=match):
        plan_evaluation(made[2], **kwargs)


# ------------------------------------------------------------------------------ the command line
def test_cli_prints_the_table_and_writes_json(made, capsys, tmp_path):
    _, _, ds, folder = made
    status = main(["evaluate", str(folder / "set.pt"), "--seeds", "2", "--widths", "32", "--ridges", "1e-3,1e-2",
                   "--n-test", str(N_TEST), "--json", str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    assert status == 0 and "recorded (seed 1)" in out and "2 fresh (1000..1001)" in out
    assert f"memory: {ds.memory_floats:,} floats" in out
    assert len(read_json(tmp_path / "out.json")["rows"]) == 4


@pytest.mark.parametrize("name, args, match", [
    ("missing-task", lambda f: [str(f / "notask.pt")], r"notask.pt records no task .* pass the task \(--task"),
    ("not-ddlib", lambda f: [str(f / "plain.txt")], r"plain.txt is not a readable ddlib DistilledSet file"),
    ("no-such-file", lambda f: [str(f / "missing.pt")], r"no such file: .*missing.pt"),
    ("mismatched-d", lambda f: [str(f / "set.pt"), "--task", "r=2,link=he2,seed=0,d=9"],
     r"the set's points have d=8 but the given task has d=9"),
    ("bad-task-spec", lambda f: [str(f / "set.pt"), "--task", "r=2"], r"--task must give \['link', 'seed'\]"),
    ("bad-task-key", lambda f: [str(f / "set.pt"), "--task", "width=3"], r"--task takes key=value pairs"),
    ("bad-link", lambda f: [str(f / "set.pt"), "--task", "r=2,link=relu,seed=0"], r"link must be one of"),
    ("odd-width", lambda f: [str(f / "set.pt"), "--widths", "3"], r"widths\[0\] must be even"),
    ("not-a-list", lambda f: [str(f / "set.pt"), "--ridges", "a,b"], r"expected comma-separated floats"),
    ("zero-seeds", lambda f: [str(f / "set.pt"), "--seeds", "0"], r"k must be >= 1, got 0"),
])
def test_cli_refuses_bad_input_with_one_line_and_status_2(made, capsys, name, args, match):
    import re

    folder = made[3]
    (folder / "plain.txt").write_text("not a torch file")
    assert main(["evaluate", *args(folder)]) == 2
    assert re.search(match, _one_error_line(capsys))


def test_cli_failure_while_scoring_is_one_line_and_status_1(made, capsys):
    # lambda2 = 5e-324 makes the ridge system singular: found while scoring, not before.
    args = ["evaluate", str(made[3] / "singular.pt"), "--ridges", "5e-324", "--seeds", "1", "--n-test", "100"]
    assert main(args) == 1
    line = _one_error_line(capsys)
    assert "the ridge system is singular" in line and "--debug" in line


def test_cli_help_documents_the_task_option_and_the_exit_statuses(capsys):
    assert main(["evaluate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--task r=2,link=he2,seed=0" in out and "exit status: 0 scored; 2 bad input" in out
