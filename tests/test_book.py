"""What a page shows: the claim block, the verdict table and its notes, the calibration record,
the reproduce box, the verdict summary (and its failure on a missing results file)."""
from __future__ import annotations

import pytest

from ddlib.book.pages import (calibration_block, claim_block, glue_text, is_default_run, parameter_table, reproduce_box,
                        verdict_block, verdict_summary)
from ddlib.book.claims import Check, Claim, ClaimDecl, Precondition
from ddlib.experiments.calibration import load_calibration
from ddlib.io import ArtifactError, write_json
from ddlib.stats import Interval


def _claim(cid="C9.1", lo=1.0, hi=2.0, met=True):
    check = Check("ratio to full data", Interval((lo + hi) / 2, lo, hi, 5, 0.95, "t"), "<=", 3.0, "why 3")
    return Claim(cid, "a sentence", (check,), (Precondition("m1 >= r", met, "m1 = 1, r = 2"),))


def test_claim_block_puts_every_claim_in_a_numbered_labelled_proof_environment():
    text = claim_block([("C9.1", "first"), ClaimDecl("C9.2", "second", ("k",)),
                        ClaimDecl("C9.3", "an identity", ("k",), consistency="holds by construction")]).data
    assert "````{prf:conjecture} C9.1\n:label: claim-C9.1\n\nfirst\n````" in text
    assert "````{prf:conjecture} C9.2\n:label: claim-C9.2\n\nsecond\n````" in text
    assert "````{prf:property} C9.3\n:label: claim-C9.3\n\nan identity\n````" in text  # a consistency check


def test_verdict_block_lists_every_check_with_its_basis_and_marks_the_verdict():
    text = verdict_block([_claim(), _claim("C9.2", met=False)]).data
    assert "| C9.1 | ratio to full data | 1.5 [1, 2] | <= 3 | holds ✓ |" in text
    assert "| C9.2 | m1 >= r | m1 = 1, r = 2 | precondition | outside regime – |" in text
    assert "- why 3" in text


def test_verdict_block_glues_its_verdict_plot_beside_the_table_with_alt_text():
    text = verdict_block([_claim(), _claim("C9.2", lo=4.0, hi=5.0), _claim("C9.3", lo=2.0, hi=4.0)]).data
    table, figure = text.index("| C9.1 |"), text.index("```{glue:figure} verdict_plot_C9\n:name: fig-verdict-plot-c9\n")
    assert table < figure < text.index("Thresholds, fixed before the data")
    alt = next(line for line in text.splitlines() if line.startswith(":alt: "))
    assert "3 checks" in alt and "1 holds, 1 does not hold, 1 inconclusive" in alt and "threshold" in alt
    assert "{glue:figure}" not in verdict_block([_claim()], plot="").data


def test_the_verdict_plot_draws_each_interval_against_its_threshold_in_its_verdict_colour():
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from ddlib.book.pages import _VERDICT_STYLE, verdict_figure

    claims = [_claim(), _claim("C9.2", lo=4.0, hi=5.0), _claim("C9.3", lo=2.0, hi=4.0), _claim("C9.4", met=False)]
    fig = verdict_figure(claims)
    try:
        assert fig.get_size_inches()[0] == 7.0
        rows = fig.axes
        assert len(rows) == 4
        for ax, verdict, (lo, hi) in zip(rows, ("holds", "does not hold", "inconclusive", "outside regime"),
                                         ((1, 2), (4, 5), (2, 4), (1, 2))):
            bar = next(line for line in ax.lines if len(line.get_xdata()) == 2 and line.get_linewidth() > 3)
            assert list(bar.get_xdata()) == [lo, hi] and to_hex(bar.get_color()) == to_hex(_VERDICT_STYLE[verdict][0])
            assert any(list(line.get_xdata()) == [3.0, 3.0] and line.get_linestyle() == "--" for line in ax.lines)
        fig.canvas.draw()  # every text readable on a phone: 9 pt or more at 7 in
        texts = [t for ax in rows for t in (ax.title, *ax.get_xticklabels())] + fig.legends[0].get_texts()
        assert min(t.get_fontsize() for t in texts if t.get_text()) >= 9
    finally:
        plt.close(fig)


def test_calibration_block_shows_the_power_rule_beside_the_repetitions_run():
    record = {"seed": 1000, "repetitions": 10,
              "thresholds": {"gap": {"name": "gap", "comparison": "<=", "threshold": 2.0, "origin": "convention"}},
              "profiles": {"book": {"n_seeds": 5, "checks": {"gap": {"mean": 1.8, "n_required": 12, "undefined": 1}}}}}
    text = calibration_block(record).data
    assert "| gap | <= 2 (convention) | 1.8; 12 (5) ⚠; 1 undefined |" in text and "base seed 1000" in text
    assert "set no threshold" in text
    committed = calibration_block(load_calibration("05_boundaries")).data
    assert "blocks: " in committed


def test_reproduce_box_has_the_commands_the_parameters_and_the_downloads():
    text = reproduce_box("02_generalization", profile="book", parameters={"d": 32, "r": 2, "link": "he2"}, seed=3,
                         files=["results/02_generalization.json"], executed="../_notebooks/02.ipynb").data
    assert "```bash\n.venv/bin/ddlib run notebooks/02_generalization.md --profile smoke -p seed 3\n```" in text
    assert "`d` | `32`" in text and "`link` | `he2`" in text
    assert "from the repository root" in text
    assert "{download}`02_generalization.json <results/02_generalization.json>`" in text
    assert "(executed)](../_notebooks/02.ipynb)" in text


def test_parameter_table_is_narrow_pairs():
    table = parameter_table({"a": 1, "b": 2, "c": 3}, columns=2)
    assert table.splitlines()[0].count("parameter") == 2 and len(table.splitlines()) == 4


def test_default_run_means_every_parameter_at_none_and_the_default_seed():
    assert is_default_run({"d": None, "r": None}, 0)
    assert not is_default_run({"d": 48, "r": None}, 0) and not is_default_run({"d": None}, 5)


def test_glue_keys_cannot_hold_a_colon():
    with pytest.raises(ValueError, match="cannot contain ':'"):
        glue_text("a:b", "text")


def test_verdict_summary_reads_every_page_and_fails_on_a_missing_file(tmp_path):
    write_json(tmp_path / "a.json", {"verdicts": [_claim().as_dict()]})
    text = verdict_summary(tmp_path, "../notebooks", notebooks=["a"])
    assert text.startswith("1 claims: 1 holds.") and "{doc}`a <../notebooks/a>`" in text and "1.5 [1, 2] (<= 3)" in text
    with pytest.raises(ArtifactError, match="missing.json"):
        verdict_summary(tmp_path, "../notebooks", notebooks=["a", "missing"])
    (tmp_path / "b.json").write_text('{"verdicts": []}')  # not written by ddlib: no checksum
    with pytest.raises(ArtifactError):
        verdict_summary(tmp_path, "../notebooks", notebooks=["b"])
