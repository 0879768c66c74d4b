"""The build stamp (booksite/stamp.py): version, short commit and a date from SOURCE_DATE_EPOCH, the
commit, or the build, with clean fallbacks without git; and the citation block's BibTeX."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``booksite`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from booksite.stamp import Stamp, _short, add_stamp, bib_entry, build_stamp, commit_time, companion_entry  # noqa: E402
from ddlib._version import __version__  # noqa: E402


def test_source_date_epoch_wins() -> None:
    stamp = build_stamp({"SOURCE_DATE_EPOCH": "86400"})
    assert (stamp.date, stamp.date_source, stamp.version) == ("1970-01-02", "SOURCE_DATE_EPOCH", __version__)
    assert f"ddlib {__version__}" in stamp.text() and "1970-01-02" in stamp.text()
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH"):
        build_stamp({"SOURCE_DATE_EPOCH": "yesterday"})


def test_commit_date_without_source_date_epoch() -> None:
    when = commit_time()
    if when is None:
        pytest.skip("not a git checkout")
    stamp = build_stamp({})
    assert stamp.date_source == "commit"
    assert stamp.date == dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%d")
    assert stamp.commit != "unknown" and len(stamp.commit.removesuffix("-dirty")) == 7


def test_without_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable
    now = dt.datetime(2030, 5, 17, tzinfo=dt.timezone.utc)
    stamp = build_stamp({}, now=now)
    assert (stamp.commit, stamp.date, stamp.date_source) == ("unknown", "2030-05-17", "build")
    assert "commit unknown" in stamp.text() and "build date" in stamp.text()


def test_short_commit() -> None:
    assert _short("0123456789abcdef") == "0123456"
    assert _short("0123456789abcdef-dirty") == "0123456-dirty"
    assert _short("unknown") == "unknown"


def test_footer_gets_the_stamp_appended() -> None:
    class App:
        env = type("Env", (), {"ddlib_build_stamp": Stamp("9.9", "abcdef0", "2026-01-02", "commit")})()

    context = {"theme_extra_footer": "<p>kept</p>"}
    add_stamp(App(), "book/intro", "page.html", context, None)
    assert context["theme_extra_footer"].startswith("<p>kept</p>")
    assert "ddlib 9.9" in context["theme_extra_footer"] and "abcdef0" in context["theme_extra_footer"]
    assert "2026-01-02 (commit date)" in context["ddlib_build_stamp"]


def test_bib_entry_is_verbatim_and_the_companion_is_stamped() -> None:
    text = (ROOT / "book" / "references.bib").read_text()
    entry = bib_entry(text, "kinoshita2026dataset")
    assert entry.startswith("@inproceedings{kinoshita2026dataset,") and entry.endswith("}")
    assert entry in text and entry.count("{") == entry.count("}")
    with pytest.raises(KeyError):
        bib_entry(text, "nosuch2000")
    mine = companion_entry(Stamp("1.2.3", "abcdef0", "2027-03-04", "commit"), "ddlib", "ddlib contributors")
    assert "version = {1.2.3}" in mine and "year    = {2027}" in mine and "commit abcdef0" in mine
    assert mine.count("{") == mine.count("}")
