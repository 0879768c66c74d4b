"""What a notebook page shows around its computation: the claim block at the top, the verdict
table and the calibration record at the end, the "Reproduce this page" box, and glued numbers.

Everything here renders from data (claims, parameters, files written by the run), so a re-run
with other parameters can never leave a stale sentence or number on the page.  Markdown is
returned as ``IPython.display.Markdown`` objects, which MyST-NB renders as MyST (the book sets
``nb_render_markdown_format: myst``), so directives and ``{download}`` links work in outputs.
"""
from __future__ import annotations

import math
import os
import re
import textwrap
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..experiments.calibration import block_verdicts
from ..io import read_json
from ..values import cli_arg
from .blocks import load_blocks, seed_dependent
from .claims import Check, Claim, ClaimDecl, verdict_table
from .notebooks import NOTEBOOK_PAGES, NOTEBOOKS, experiment_module

__all__ = ["READ", "reading", "interval", "plain_log", "control_block", "blocks_block", "glue_numbers", "glue_text",
           "glue_verdict_counts", "claim_block", "verdict_block", "verdict_figure", "calibration_block",
           "reproduce_box", "reproduce_commands", "parameter_table", "is_default_run", "conditional",
           "verdict_summary", "NOTEBOOK_PAGES"]

# The claim pages, in the book's order, and the results file each writes.

_VERDICT_MARK = {"holds": "holds ✓", "does not hold": "does not hold ✗", "inconclusive": "inconclusive ?",
                 "outside regime": "outside regime –"}


def _markdown(text: str):
    from IPython.display import Markdown

    return Markdown(text)


def glue_numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Glue every value under ``prefix + key`` (MyST-NB ``glue``, not displayed), as plain Python
    numbers and strings -- NumPy scalars break ``{glue:text}`` format specs.  Returns what was glued."""
    from myst_nb import glue

    out = {}
    for key, value in values.items():
        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            value = str(value)
        if isinstance(value, float) and not math.isfinite(value):
            value = "n/a"
        name = f"{prefix}{key}"
        if ":" in name:
            raise ValueError(f"glue keys cannot contain ':', got {name!r}")
        glue(name, value, display=False)
        out[name] = value
    return out


def glue_text(key: str, text: str) -> str:
    """Glue a sentence (MyST Markdown) under ``key``, for ``{glue:md}`key:myst``` in the page: prose that
    depends on a result is computed with it, never typed beside it."""
    from myst_nb import glue

    if ":" in key:
        raise ValueError(f"glue keys cannot contain ':', got {key!r}")
    glue(key, _markdown(text), display=False)
    return text


def glue_verdict_counts(prefix: str, claims: Iterable[Claim]) -> dict[str, int]:
    """Glue how many claims there are and how many hold, fail, are inconclusive or out of regime
    (``<prefix>n_claims``, ``<prefix>n_holds``, ``<prefix>n_fails``, ``<prefix>n_inconclusive``,
    ``<prefix>n_outside``): plain integers, which other pages (the introduction) can glue."""
    every = list(claims)
    claims = [c for c in every if c.counted]  # consistency checks are reported, not counted
    counts = {"n_claims": len(claims), "n_consistency": len(every) - len(claims)}
    for key, verdict in (("n_holds", "holds"), ("n_fails", "does not hold"), ("n_inconclusive", "inconclusive"),
                         ("n_outside", "outside regime")):
        counts[key] = sum(c.verdict == verdict for c in claims)
    glue_numbers(counts, prefix=prefix)
    return counts


def is_default_run(explicit: Mapping[str, Any], seed: int, default_seed: int = 0) -> bool:
    """True when the notebook runs at its cell's defaults: every profile parameter left at None
    and the default base seed (only then are the verdicts compared with the page's recorded findings,
    ``ddlib.book.findings``)."""
    return all(v is None for v in explicit.values()) and seed == default_seed


# What a sentence says of a claim that does not hold (``reading``).
READ = {"does not hold": "does not hold at these parameters (see the verdict table)",
        "inconclusive": "is inconclusive here: its interval straddles the threshold",
        "outside regime": "does not apply at these parameters (see the verdict table)"}


def reading(verdicts: Mapping[str, str], cid: str, holds: str) -> str:
    """The sentence for claim ``cid`` (ending with a full stop): ``holds`` when its verdict in
    ``verdicts`` (claim id -> verdict; a missing claim is outside its regime) is "holds", else what
    the verdict says."""
    verdict = verdicts.get(cid, "outside regime")
    text = conditional(verdict, {"holds": holds, "default": f"Claim {cid} {READ.get(verdict, READ['outside regime'])}"})
    return text if text.endswith(".") else text + "."


def interval(estimates: Mapping[str, Any], key: str, name: Optional[str] = None) -> dict[str, float]:
    """A check's estimate and interval (``estimates[key]``, an ``Interval``), as the glue keys
    c_<name>, c_<name>_lo, c_<name>_hi (``name`` defaults to ``key``)."""
    m, name = estimates[key], name or key
    return {f"c_{name}": m.estimate, f"c_{name}_lo": m.lo, f"c_{name}_hi": m.hi}


def plain_log(ax: Any, axis: str = "x") -> None:
    """Log-scale ticks of a matplotlib axis as plain numbers (no 2 x 10^0), without minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def conditional(verdict: str, texts: Mapping[str, str]) -> str:
    """The sentence for this verdict (``texts`` keyed by verdict; "default" for the others)."""
    return texts.get(verdict, texts.get("default", ""))


def claim_block(claims: Sequence[ClaimDecl | tuple[str, str]], title: str = "Claims checked on this page"):
    """The claims at the top of a page, each in a numbered sphinx-proof environment labelled
    ``claim-<id>`` (so ``{prf:ref}`claim-C2.1``` links to it): a claim as a conjecture, which the
    page puts to the test; a consistency check (an identity or bound) as a property."""
    blocks = []
    for c in claims:
        cid, text = (c.id, c.statement) if isinstance(c, ClaimDecl) else c
        kind = "property" if isinstance(c, ClaimDecl) and c.consistency else "conjecture"
        blocks.append(f"````{{prf:{kind}}} {cid}\n:label: claim-{cid}\n\n{text}\n````\n")
    return _markdown(f"**{title}:**\n\n" + "\n".join(blocks))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _verdict_rows(claims: Sequence[Claim]) -> str:
    table = verdict_table(claims)
    header = "| claim | check | measured [95% CI] | threshold | verdict |\n|---|---|---|---|---|\n"
    return header + "".join(f"| {_cell(r['claim'])} | {_cell(r['check'])} | {_cell(r['measured [95% CI]'])} | "
                            f"{_cell(r['threshold'])} | {_VERDICT_MARK.get(r['verdict'], r['verdict'])} |\n"
                            for r in table.to_dict(orient="records"))


# Okabe-Ito colours and distinct markers: the verdicts stay apart without colour too.
_VERDICT_STYLE = {"holds": ("#009E73", "o"), "does not hold": ("#D55E00", "X"), "inconclusive": ("#E69F00", "D"),
                  "outside regime": ("#8C8C8C", "s")}


def _plot_verdict(claim: Claim, check: Check) -> str:
    return "outside regime" if claim.verdict == "outside regime" else check.verdict


def verdict_figure(claims: Sequence[Claim], width: float = 7.0) -> Any:
    """The verdict plot: one row per check, its interval (bar) and estimate (marker) against its
    threshold (dashed line, the claimed side shaded), coloured by verdict; each row on its own
    scale (log where positive values span more than a factor 20), fonts of 9 pt or more at
    ``width`` inches so it reads on a phone.  Returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = [(c, k) for c in claims for k in c.checks]
    if not rows:
        raise ValueError("a verdict plot needs at least one check")
    rc = {"font.size": 10, "axes.titlesize": 9.5, "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9}
    with plt.rc_context(rc):
        fig, axes = plt.subplots(len(rows), 1, figsize=(width, 0.9 + 0.78 * len(rows)), squeeze=False,
                                 layout="constrained")
        for ax, (claim, check) in zip(axes[:, 0], rows):
            _verdict_row(ax, claim, check, width)
        present = list(dict.fromkeys(_plot_verdict(c, k) for c, k in rows))
        handles = [plt.Line2D([], [], color=_VERDICT_STYLE[v][0], marker=_VERDICT_STYLE[v][1], lw=4, ms=8, label=v)
                   for v in _VERDICT_STYLE if v in present]
        handles.append(plt.Line2D([], [], color="k", ls="--", lw=1.2, label="threshold"))
        handles.append(Patch(facecolor="0.9", label="claimed side"))
        fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)
    return fig


def _verdict_row(ax: Any, claim: Claim, check: Check, width: float) -> None:
    """One check of the verdict plot on its own axis."""
    from matplotlib.ticker import MaxNLocator

    colour, marker = _VERDICT_STYLE[_plot_verdict(claim, check)]
    m, t = check.measured, check.threshold
    marks = tuple(getattr(check, "marks", ())) or (t,)  # a rule check (RuleCheck) reads several values
    band = getattr(check, "band", ())
    values = [v for v in (m.lo, m.hi, m.estimate, *marks) if v is not None and math.isfinite(v)]
    lo, hi = min(values), max(values)
    log = lo > 0 and hi / lo > 20
    if log:
        ax.set_xscale("log")
        pad = (hi / lo) ** 0.12
        ax.set_xlim(lo / pad, hi * pad)
        plain_log(ax)
    else:
        pad = 0.12 * (hi - lo) or 0.1 * abs(hi) or 1.0
        ax.set_xlim(lo - pad, hi + pad)
        ax.xaxis.set_major_locator(MaxNLocator(5))
    left, right = ax.get_xlim()
    if band:  # a rule check: the region its rule asks the interval to lie in
        ax.axvspan(max(band[0], left), min(band[1], right), color="0.9", zorder=0)
    else:
        ax.axvspan(*((t, right) if check.comparison == ">=" else (left, t)), color="0.9", zorder=0)  # the claimed side
    ax.set_xlim(left, right)
    for v in marks:
        ax.axvline(v, color="k", ls="--", lw=1.2)
    if m.defined:
        ax.plot([m.lo, m.hi], [0, 0], color=colour, lw=5, solid_capstyle="butt")
        ax.plot([m.estimate], [0], marker=marker, color=colour, ms=9, mec="k", mew=0.6)
    else:
        ax.text(0.5, 0, "no interval (undefined)", transform=ax.get_yaxis_transform(), ha="center", va="center",
                fontsize=9, color=colour)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    note = " (consistency)" if not claim.counted else (" (outside regime)" if claim.verdict == "outside regime" else "")
    rule = getattr(check, "rule", "")
    title = f"{claim.id} · {check.name}: {rule}{note}" if rule else f"{claim.id} · {check.name} {check.comparison} {t:.3g}{note}"
    ax.set_title("\n".join(textwrap.wrap(title, int(width * 13))), loc="left", pad=3)


def _figure_key(claims: Sequence[Claim]) -> str:
    """The glue key of a page's verdict plot, from its first claim's id ("C0.1" -> verdict_plot_C0)."""
    return "verdict_plot_" + re.sub(r"[^A-Za-z0-9_]", "_", claims[0].id.split(".")[0])


def _plot_text(claims: Sequence[Claim], key: str) -> str:
    """The glued verdict plot (``{glue:figure}``) with its alt text and caption, for the block."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    rows = [(c, k) for c in claims for k in c.checks]
    fig = verdict_figure(claims)
    glue(key, fig, display=False)
    plt.close(fig)
    counts = {v: sum(_plot_verdict(c, k) == v for c, k in rows) for v in _VERDICT_STYLE}
    said = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    levels = sorted({round(100 * k.measured.level) for _, k in rows})
    level = "/".join(map(str, levels))
    alt = (f"Verdict plot of {len(rows)} check{'s' if len(rows) != 1 else ''}: each check's {level}% interval "
           f"and estimate against its threshold, coloured by verdict ({said})")
    return (f"```{{glue:figure}} {key}\n:name: fig-{key.replace('_', '-').lower()}\n:alt: {alt}\n\n"
            f"The checks of the table above: each one's {level}% interval (bar) and estimate (marker) against its "
            f"threshold (dashed line; the claimed side is shaded), coloured by the check's verdict -- grey where "
            f"its claim is outside its regime. Each row has its own scale.\n```\n")


def verdict_block(claims: Iterable[Claim], plot: Optional[str] = None):
    """The verdict table (claim, check, measured with 95% CI, threshold, verdict) as a Markdown
    table narrow enough for the text column, the verdict plot beside it (glued under ``plot``,
    by default ``verdict_plot_<first claim's prefix>``; "" for none), then each threshold's origin
    and reason, then the consistency checks (identities and bounds no control can flip: reported,
    not counted)."""
    every = list(claims)
    claims, consistency = [c for c in every if c.counted], [c for c in every if not c.counted]
    text = _verdict_rows(claims) if claims else ""
    if every and plot != "":
        text += "\n" + _plot_text(claims + consistency, plot or _figure_key(every))
    bases = sorted({(k.basis, k.origin) for c in claims for k in c.checks if k.basis})
    if bases:
        text += "\nThresholds, fixed before the data:\n\n" + "".join(
            f"- {f'*{o}*: ' if o else ''}{b}\n" for b, o in bases)
    if consistency:
        text += ("\nConsistency checks -- reported, not counted among the claims, because no control can "
                 "make them fail:\n\n" + _verdict_rows(consistency) + "\n"
                 + "".join(f"- **{c.id}**: {c.consistency}\n" for c in consistency))
    return _markdown(text)


def blocks_block(claims: Iterable[Claim], record: Mapping[str, Any], seed: int = 0, profile: str = "book"):
    """Per claim, its verdict on this run's seeds and on the two extra blocks of seeds the book does
    not choose (``ddlib.book.blocks``, the book profile), marked *seed-dependent* where they differ --
    only when this run is itself at the book profile, whose blocks they are."""
    claims = [c for c in claims if c.counted]
    blocks = record.get("blocks", {}) if record else {}
    if not blocks:
        return _markdown("**Other seeds:** no block record is committed for this page (run `make blocks`).\n")
    names = [f"base seeds {b['seed']}–{b['seed'] + b['n_seeds'] - 1}" for b in blocks.values()]
    comparable = profile == record.get("profile", "book")
    head = (f"| claim | this run ({profile}, base seed {seed}) | " + " | ".join(names) + " | |\n|---|---|"
            + "---|" * len(names) + "---|\n")
    dependent = seed_dependent({c.id: c.verdict for c in claims}, record) if comparable else {}
    rows = "".join(f"| **{c.id}** | {_VERDICT_MARK.get(c.verdict, c.verdict)} | "
                   + " | ".join(_VERDICT_MARK.get(b["verdicts"].get(c.id), b["verdicts"].get(c.id, "absent"))
                                for b in blocks.values())
                   + f" | {'seed-dependent' if c.id in dependent else ''} |\n" for c in claims)
    note = "" if comparable else (f"\nThis run is at the {profile} profile, the blocks at the book profile: "
                                  f"they are shown, not compared.\n")
    return _markdown("**The same claims on seeds the book does not choose** (committed blocks at the book "
                     "profile, `make blocks`):\n\n" + head + rows + note)


def control_block(record: Mapping[str, Any], title: str = "Negative controls"):
    """Per claim, its negative control and the verdict the claim reached under it, from the page's
    committed control record (``ddlib.book.controls``; ``make controls``); then what each control
    breaks."""
    entries = record.get("claims", {}) if record else {}
    if not entries:
        return _markdown(f"**{title}:** no control record is committed for this page (run `make controls`).\n")
    rows, what = [], {}
    for cid, e in entries.items():
        if e.get("consistency"):
            continue
        if not e.get("control"):
            rows.append(f"| **{cid}** | none declared | | ✗ |")
            continue
        what[e["control"]] = e.get("what", "")
        mark = "✓" if e.get("fails") else "✗ (the check did not fail)"
        rows.append(f"| **{cid}** | {_cell(e['control'])} | {_VERDICT_MARK.get(e.get('verdict'), e.get('verdict'))} | "
                    f"{mark} |")
    head = (f"**{title}** ({record.get('profile')}): under its control each claim's own check must fail.\n\n"
            f"| claim | control | verdict under it | fails as it must |\n|---|---|---|---|\n")
    # a description that opens with its control's name ("shuffled labels: ...") is not prefixed twice
    notes = "".join(f"- *{_cell(name)}*: {_cell(text.removeprefix(name + ': '))}\n" for name, text in what.items()
                    if text)
    return _markdown(head + "\n".join(rows) + "\n" + ("\n" + notes if notes else ""))


def calibration_block(record: Mapping[str, Any]):
    """The calibration record as a table: per check, its threshold and its origin and, per profile,
    the mean over the calibration repetitions, the repetitions the power rule asks for beside the
    ones the page runs, and the verdicts of the calibration repetitions taken in blocks of the
    profile's ``n_seeds`` (``ddlib.experiments.calibration``).  No threshold comes from it."""

    blocks = block_verdicts(record) if record.get("notebook") else {}  # a bare record: no blocks
    profiles = list(record["profiles"])
    head = "| check | threshold | " + " | ".join(f"{p}: mean; repetitions needed (run)" for p in profiles) + " |\n"
    head += "|---|---|" + "---|" * len(profiles) + "\n"
    rows = ""
    for key, spec in record["thresholds"].items():
        cells = []
        for p in profiles:
            c, used = record["profiles"][p]["checks"].get(key, {}), record["profiles"][p].get("n_seeds")
            if c.get("mean") is None:
                cells.append("n/a")
                continue
            need = c.get("n_required")
            need_text = "n/a" if need is None else (f"> {need - 1}" if need > 1000 else str(need))
            flag = " ⚠" if need is not None and used is not None and need > used else ""
            cell = f"{c['mean']:.3g}; {need_text} ({used}){flag}"
            if c.get("undefined"):
                cell += f"; {c['undefined']} undefined"
            verdicts = blocks.get(p, {}).get(key)
            if verdicts:
                held = sum(v == "holds" for v in verdicts)
                others = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts) if v != "holds")
                cell += f"; blocks: {held}/{len(verdicts)} hold" + (f" ({others})" if others else "")
            cells.append(cell)
        origin = f" ({spec['origin']})" if spec.get("origin") else ""
        rows += (f"| {_cell(spec['name'])} | {spec['comparison']} {spec['threshold']:.3g}{origin} | "
                 + " | ".join(cells) + " |\n")
    note = (f"\nCalibration: {record['repetitions']} repetitions from base seed {record['seed']} at each profile "
            f"(seeds the book and CI never run). They set no threshold: each threshold is fixed by its origin. "
            f"They give the power rule -- the repetitions whose expected 95% interval is narrower than the "
            f"distance between the threshold and the calibration mean -- beside the repetitions the page runs "
            f"(⚠: fewer than needed, so an inconclusive verdict is likely). Blocks: the calibration repetitions "
            f"split into disjoint blocks of the page's number of repetitions, each checked as this page checks "
            f"its own run; blocks that disagree show how much a verdict depends on its seeds.\n")
    return _markdown(head + rows + note)


def parameter_table(parameters: Mapping[str, Any], columns: int = 2) -> str:
    """The resolved parameters as a narrow Markdown table of (name, value) pairs, ``columns``
    pairs per row; each value as ``-p NAME VALUE`` takes it in a shell (``cli_arg``), in a code
    span so no quote is curled."""
    items = [(k, v) for k, v in parameters.items()]
    rows = [items[i:i + columns] for i in range(0, len(items), columns)]
    head = "| " + " | ".join(["parameter | value"] * columns) + " |\n" + "|---|---" * columns + "|\n"
    body = ""
    for row in rows:
        cells = [f"`{k}` | {_cell(f'`{cli_arg(v)}`')}" for k, v in row] + ["|"] * (columns - len(row))
        body += "| " + " | ".join(cells) + " |\n"
    return head + body


# What each profile is, in the reproduce box.
PROFILE_NOTES = {"smoke": "the quick profile CI runs", "book": "the profile this site runs",
                 "paper": "the paper's scale"}


def _changed(notebook: str, profile: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of this run that differ from ``profile``'s values (none for a page that is
    not a book notebook: its profiles are unknown here)."""
    if notebook not in NOTEBOOKS:
        return {}
    values = getattr(experiment_module(notebook), "PROFILES", {}).get(profile, {})
    return {k: v for k, v in parameters.items() if k != "seed" and k in values and values[k] != v}


def reproduce_commands(notebook: str, *, profile: str, parameters: Mapping[str, Any], seed: int,
                       profiles: Sequence[str] = ("smoke", "book", "paper")) -> dict[str, str]:
    """Per profile, the shell command that re-runs the page from the repository root with this
    run's seed and every parameter it changed from its profile's values (``-p NAME VALUE``, each
    value one shell word: ``cli_arg``)."""
    extra = (f" -p seed {seed}" if seed != 0 else "") + "".join(
        f" -p {k} {cli_arg(v)}" for k, v in _changed(notebook, profile, parameters).items())
    return {p: f".venv/bin/ddlib run notebooks/{notebook}.md --profile {p}{extra}" for p in profiles}


def reproduce_box(notebook: str, *, profile: str, parameters: Mapping[str, Any], seed: int,
                  files: Sequence[str | Path], executed: Optional[str] = None,
                  profiles: Sequence[str] = ("smoke", "book", "paper"), declared: str = ""):
    """The "Reproduce this page" box: the ``ddlib run`` command of each profile in its own code
    block (its own copy button; a literal block, so no quote is curled), where to run it, this
    run's resolved parameters, and download links for the files it wrote (and the executed notebook).

    Args:
        notebook: the page's stem, e.g. "02_generalization".
        profile: the profile this run used.
        parameters: the resolved parameters of this run (real values, not None).
        seed: this run's base seed.
        files: result files written by this run, relative to the page (e.g. "results/02_generalization.json").
        executed: the link of the executed notebook, relative to the page; by default the book's
            own (``../_notebooks/<notebook>.ipynb``) when the page is executed by ``make book``
            (which sets ``DDLIB_BOOK_BUILD=1``), none otherwise (a ``ddlib run`` has no site).
        declared: the page's parameter declaration as a table (``Parameters.table``), shown under
            this run's values so a reader sees every name, type, profile value and meaning.
    """
    if executed is None and os.environ.get("DDLIB_BOOK_BUILD") == "1":
        executed = f"../_notebooks/{notebook}.ipynb"
    commands = reproduce_commands(notebook, profile=profile, parameters=parameters, seed=seed, profiles=profiles)
    blocks = "".join(f"**{p}** ({PROFILE_NOTES.get(p, 'profile')}{'; this run' if p == profile else ''}):\n\n"
                     f"```bash\n{command}\n```\n\n" for p, command in commands.items())
    links = [f"{{download}}`{Path(f).name} <{f}>`" for f in files]
    if executed:
        links.append(f"[{notebook}.ipynb (executed)]({executed})")
    text = (f"::::{{dropdown}} Reproduce this page (profile `{profile}`)\n\n"
            f"Run one of these commands from the repository root, after the README's setup (`make env` "
            f"creates `.venv`); each block is the whole command for one profile.\n\n{blocks}"
            f"Add `-p NAME VALUE` to change any parameter below (see the reproduce page); values are "
            f"written as `-p` takes them in a shell. This run's parameters (base seed {seed}):\n\n"
            f"{parameter_table(parameters)}\n"
            + (f"Every parameter, declared once in the page's experiment module:\n\n{declared}\n" if declared else "")
            + f"Downloads: {' · '.join(links)}\n::::\n")
    return _markdown(text)


def _key_number(verdict: Mapping[str, Any]) -> str:
    """The deciding check's measured value with its interval, or the unmet precondition."""
    if verdict["verdict"] == "outside regime":
        unmet = [p for p in verdict.get("regime", []) if not p["met"]]
        return _cell("; ".join(p["detail"] for p in unmet))
    checks = verdict.get("checks", [])
    deciding = [c for c in checks if c["verdict"] == verdict["verdict"]] or checks
    parts = []
    for c in deciding[:2]:
        m = c["measured"]
        est = "n/a" if m["estimate"] is None else f"{m['estimate']:.3g}"
        ci = "" if m["lo"] is None else f" [{m['lo']:.3g}, {m['hi']:.3g}]"
        parts.append(f"{est}{ci} ({c['comparison']} {c['threshold']:.3g})")
    return _cell("; ".join(parts))


def verdict_summary(results_dir: str | Path, pages: str, notebooks: Sequence[str] = NOTEBOOK_PAGES) -> str:
    """One Markdown table of every claim of every page: page, claim, verdict, key number with its
    interval and threshold.  A page whose results file is missing or corrupted fails the build.

    Args:
        results_dir: where the notebook pages wrote their results JSON.
        pages: the notebook pages' folder, relative to the page that shows the table (for links).
        notebooks: the pages, in order.
    """

    rows, counts = [], {}
    for name in notebooks:
        record = read_json(Path(results_dir) / f"{name}.json")  # raises on a missing or corrupted file
        live = [v for v in record.get("verdicts", []) if v.get("source", "this run") == "this run"]
        dependent = seed_dependent({v["id"]: v["verdict"] for v in live}, load_blocks(name) if name in NOTEBOOKS else {})
        for v in record.get("verdicts", []):
            if v.get("consistency"):
                continue  # a consistency check is reported on its page, not counted among the claims
            counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
            source = v.get("source", "this run")
            where = f"{{doc}}`{name} <{pages}/{name}>`" + ("" if source == "this run" else f" ({source})")
            mark = " (seed-dependent)" if v["id"] in dependent else ""
            rows.append(f"| {where} | **{v['id']}** {_cell(v['claim'])} | {_VERDICT_MARK.get(v['verdict'], v['verdict'])}"
                        f"{mark} | {_key_number(v)} |")
    head = "| page | claim | verdict | measured [95% CI] (threshold) |\n|---|---|---|---|\n"
    total = ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"{len(rows)} claims: {total}.\n\n" + head + "\n".join(rows) + "\n"
