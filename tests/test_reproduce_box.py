"""The "Reproduce this page" box pastes: every command it shows, for every notebook and profile,
is read by bash into the words ``shlex`` reads, and ``ddlib run ... --dry-run`` accepts them (exit
0) with exactly the values the run used; each command sits in its own literal code block, which no
smart quote reaches."""
from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from ddlib.book.notebooks import NOTEBOOKS, experiment_module
from ddlib.book.pages import reproduce_box
from ddlib.cli import main
from ddlib.experiments.parameters import resolve_parameters

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.md"))
PROFILES = ("smoke", "book", "paper")
FENCE = re.compile(r"^```bash\n(.*?)\n```$", re.S | re.M)


def _box(page: str, profile: str, values_of: str, seed: int = 0) -> str:
    """The box of ``page`` run at ``profile`` with the values of profile ``values_of`` (so every
    parameter that differs between the two is set with -p)."""
    profiles = experiment_module(page).PROFILES
    parameters = resolve_parameters(profiles, values_of, seed=seed)
    return reproduce_box(page, profile=profile, parameters=parameters, seed=seed, files=[]).data


def _commands(box: str) -> list[str]:
    return FENCE.findall(box)


def _injected(out: str) -> dict:
    """The parameters cell a dry run printed, as values."""
    return {m[1]: ast.literal_eval(m[2]) for m in re.finditer(r"^    (\w+) = (.*)$", out, re.M)}


def test_every_notebook_has_its_box():
    assert PAGES and set(PAGES) <= set(NOTEBOOKS)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("profile", PROFILES)
def test_each_command_of_the_box_is_accepted_by_a_dry_run(page, profile, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the box says: from the repository root
    existed = (ROOT / "runs" / page).exists()
    profiles = experiment_module(page).PROFILES
    other = "smoke" if profile != "smoke" else "paper"  # a run whose values differ from the profile's
    expected = resolve_parameters(profiles, other, seed=4)
    changed = {k for k, v in expected.items() if k != "seed" and profiles[profile][k] != v}
    assert changed, f"{page}: the {profile} and {other} profiles do not differ"
    for box, injected_names, values in ((_box(page, profile, profile), set(), {}),
                                        (_box(page, profile, other, seed=4), changed | {"seed"}, expected)):
        commands = _commands(box)
        assert [c.split("--profile ")[1].split()[0] for c in commands] == list(PROFILES)  # one block each
        for command in commands:
            words = shlex.split(command)
            assert words[:3] == [".venv/bin/ddlib", "run", f"notebooks/{page}.md"], command
            capsys.readouterr()
            status = main([*words[1:], "--dry-run"])
            out, err = capsys.readouterr()
            assert status == 0, f"{command}: {err}"
            injected = _injected(out)
            assert injected.pop("profile") == words[words.index("--profile") + 1]
            injected.pop("results_dir")
            assert set(injected) == injected_names, command
            assert all(injected[k] == values[k] for k in injected), command  # the run's values, exactly
    assert existed or not (ROOT / "runs" / page).exists()  # a dry run writes nothing


def test_bash_reads_each_command_as_shlex_does():
    """Paste every command into bash (``ddlib`` replaced by a function printing its arguments)."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    commands = [c for page in PAGES for profile in PROFILES for c in _commands(_box(page, profile, "smoke", seed=2))]
    assert any("'[" in c for c in commands)  # some value needed quoting
    script = "ddlib() { printf '%s\\0' \"$@\"; printf '\\n'; }\n" + "\n".join(
        c.replace(".venv/bin/ddlib", "ddlib", 1) for c in commands) + "\n"
    out = subprocess.run([bash, "-c", script], capture_output=True, text=True, check=True).stdout
    assert [line.rstrip("\0").split("\0") for line in out.splitlines()] == [shlex.split(c)[1:] for c in commands]


def test_a_pasted_command_runs_from_the_repository_root():
    """One command as a reader pastes it: bash, from the repository root, the README's .venv."""
    if not (ROOT / ".venv" / "bin" / "ddlib").exists() or shutil.which("bash") is None:
        pytest.skip("no .venv/bin/ddlib (make env) or no bash")
    page = "01_encoding" if "01_encoding" in PAGES else PAGES[0]
    command = _commands(_box(page, "book", "paper", seed=7))[0]
    done = subprocess.run(["bash", "-c", command + " --dry-run"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "nothing was written or executed" in done.stdout and "seed = 7" in done.stdout


def test_python_style_values_are_what_the_box_no_longer_shows():
    """The box's values are -p's (JSON, shell-quoted), never a Python repr, which -p refuses."""
    box = _box("01_encoding", "book", "smoke") if "01_encoding" in NOTEBOOKS else _box(PAGES[0], "book", "smoke")
    assert "['" not in box and "'he2'" not in box
    assert "`'[\"aniso\", \"quad\", \"he3\"]'`" in box  # the declared table: one shell word in a code span
    status = main(["run", "notebooks/01_encoding.md", "-p", "links", "['aniso', 'quad']", "--dry-run"])
    assert status == 2  # what the old box showed


def test_the_commands_are_literal_blocks_that_no_smart_quote_reaches():
    """Rendered by MyST with docutils' smart quotes on, each command keeps its straight quotes."""
    from docutils.core import publish_string
    from myst_parser.parsers.docutils_ import Parser

    box = _box("01_encoding", "book", "smoke", seed=2)
    body = box.split("\n", 1)[1].rsplit("::::", 1)[0]  # the dropdown's content (sphinx-design is not docutils)
    body = re.sub(r"\{download\}`[^`]*`", "", body)
    html = publish_string(body, parser=Parser(), writer_name="html5",
                          settings_overrides={"smart_quotes": True, "report_level": 5,
                                              "myst_enable_extensions": ["colon_fence"]}).decode()
    blocks = [unescape(re.sub(r"<[^>]+>", "", b)).strip()
              for b in re.findall(r'<pre class="code bash literal-block">(.*?)</pre>', html, re.S)]
    assert blocks == _commands(box) and any("'[" in b for b in blocks)  # straight quotes, as written
    spans = [unescape(x) for x in re.findall(r'<span class="docutils literal">(.*?)</span>', html, re.S)]
    assert "'[1000, 3000, 12000]'" in spans  # a value in the parameter table, not curled either
