"""The book's execution cache is keyed on the library's source: the stamp changes when a ddlib
source file changes (and only then), and a changed stamp clears the cache (booksite.cache_stamp)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``booksite`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from booksite.cache_stamp import main, refresh_cache, source_digest, stamp_path  # noqa: E402


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A tiny checkout: a package with a subpackage, a lock file and a non-source file."""
    (tmp_path / "ddlib" / "sub").mkdir(parents=True)
    (tmp_path / "ddlib" / "__init__.py").write_text("VERSION = 1\n")
    (tmp_path / "ddlib" / "sub" / "core.py").write_text("def f():\n    return 1\n")
    (tmp_path / "ddlib" / "notes.txt").write_text("not source\n")
    (tmp_path / "requirements-lock.txt").write_text("torch==2.13.0\n")
    return tmp_path


def test_the_stamp_changes_when_a_source_file_changes(repo):
    before = source_digest(repo)
    assert source_digest(repo) == before  # deterministic
    (repo / "ddlib" / "sub" / "core.py").write_text("def f():\n    return 2\n")
    assert source_digest(repo) != before


def test_the_stamp_changes_when_a_source_file_is_added_renamed_or_the_lock_changes(repo):
    digests = {source_digest(repo)}
    (repo / "ddlib" / "new.py").write_text("")
    digests.add(source_digest(repo))
    (repo / "ddlib" / "new.py").rename(repo / "ddlib" / "renamed.py")
    digests.add(source_digest(repo))
    (repo / "requirements-lock.txt").write_text("torch==2.13.1\n")
    digests.add(source_digest(repo))
    assert len(digests) == 4


def test_the_stamp_ignores_bytecode_and_other_files(repo):
    before = source_digest(repo)
    (repo / "ddlib" / "__pycache__").mkdir()
    (repo / "ddlib" / "__pycache__" / "core.cpython-311.py").write_text("stale")
    (repo / "ddlib" / "notes.txt").write_text("edited\n")
    assert source_digest(repo) == before


def test_a_changed_stamp_clears_the_cache_and_an_equal_one_keeps_it(tmp_path):
    cache = tmp_path / "_build" / ".jupyter_cache"
    (cache / "executed").mkdir(parents=True)
    (cache / "executed" / "nb.ipynb").write_text("{}")
    assert refresh_cache(cache, "a" * 64) == "no stamp of the library source"
    assert not cache.exists() and stamp_path(cache).read_text().strip() == "a" * 64

    (cache / "executed").mkdir(parents=True)
    (cache / "executed" / "nb.ipynb").write_text("{}")
    assert refresh_cache(cache, "a" * 64) is None
    assert (cache / "executed" / "nb.ipynb").is_file()

    assert "library source changed" in refresh_cache(cache, "b" * 64)
    assert not cache.exists() and stamp_path(cache).read_text().strip() == "b" * 64


def test_an_edit_to_the_library_clears_the_cache_end_to_end(repo, capsys):
    cache = repo / "_build" / ".jupyter_cache"
    args = ["--root", str(repo), "--cache", str(cache)]
    assert main(args) == 0  # first build: stamps
    cache.mkdir(parents=True)
    (cache / "global.db").write_text("outputs")
    assert main(args) == 0 and (cache / "global.db").is_file()  # nothing changed: outputs reused
    (repo / "ddlib" / "sub" / "core.py").write_text("def f():\n    return 3\n")
    assert main(args) == 0 and not cache.exists()  # the library changed: cache cleared
    assert "cleared" in capsys.readouterr().out


def test_the_real_library_has_a_digest():
    assert len(source_digest(ROOT)) == 64
