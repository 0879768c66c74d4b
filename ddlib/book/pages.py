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
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..experiments.calibration import block_verdicts
from ..io import read_json
from .blocks import load_blocks, seed_dependent
from .claims import Claim, ClaimDecl, verdict_table
from .notebooks import NOTEBOOK_PAGES, NOTEBOOKS

__all__ = ["READ", "reading", "interval", "plain_log", "control_block", "blocks_block", "glue_numbers", "glue_text", "glue_verdict_counts", "claim_block", "verdict_block", "calibration_block", "reproduce_box",
           "parameter_table", "is_default_run", "conditional", "verdict_summary", "NOTEBOOK_PAGES"]

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
    """The numbered claim block at the top of a page: declared claims (or (id, statement) pairs) in
    an admonition."""
    pairs = [(c.id, c.statement) if isinstance(c, ClaimDecl) else c for c in claims]
    items = "\n".join(f"{i}. **{cid}.** {text}" for i, (cid, text) in enumerate(pairs, 1))
    return _markdown(f":::{{admonition}} {title}\n:class: important\n\n{items}\n:::\n")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _verdict_rows(claims: Sequence[Claim]) -> str:
    table = verdict_table(claims)
    header = "| claim | check | measured [95% CI] | threshold | verdict |\n|---|---|---|---|---|\n"
    return header + "".join(f"| {_cell(r['claim'])} | {_cell(r['check'])} | {_cell(r['measured [95% CI]'])} | "
                            f"{_cell(r['threshold'])} | {_VERDICT_MARK.get(r['verdict'], r['verdict'])} |\n"
                            for r in table.to_dict(orient="records"))


def verdict_block(claims: Iterable[Claim]):
    """The verdict table (claim, check, measured with 95% CI, threshold, verdict) as a Markdown
    table narrow enough for the text column, then each threshold's origin and reason, then the
    consistency checks (identities and bounds no control can flip: reported, not counted)."""
    every = list(claims)
    claims, consistency = [c for c in every if c.counted], [c for c in every if not c.counted]
    text = _verdict_rows(claims) if claims else ""
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
    pairs per row."""
    items = [(k, v) for k, v in parameters.items()]
    rows = [items[i:i + columns] for i in range(0, len(items), columns)]
    head = "| " + " | ".join(["parameter | value"] * columns) + " |\n" + "|---|---" * columns + "|\n"
    body = ""
    for row in rows:
        cells = [f"`{k}` | {_cell(v)}" for k, v in row] + ["|"] * (columns - len(row))
        body += "| " + " | ".join(cells) + " |\n"
    return head + body


def reproduce_box(notebook: str, *, profile: str, parameters: Mapping[str, Any], seed: int,
                  files: Sequence[str | Path], executed: Optional[str] = None,
                  profiles: Sequence[str] = ("smoke", "book", "paper"), declared: str = ""):
    """The "Reproduce this page" box: the ``ddlib run`` command of each profile, this run's
    resolved parameters, and download links for the files it wrote (and the executed notebook).

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
    commands = "\n".join(f".venv/bin/ddlib run notebooks/{notebook}.md --profile {p}" +
                         (f" -p seed {seed}" if seed != 0 else "") for p in profiles)
    links = [f"{{download}}`{Path(f).name} <{f}>`" for f in files]
    if executed:
        links.append(f"[{notebook}.ipynb (executed)]({executed})")
    text = (f"::::{{dropdown}} Reproduce this page (profile `{profile}`)\n\n"
            f"```bash\n{commands}\n```\n\n"
            f"Add `-p NAME VALUE` to change any parameter below (see the reproduce page). This run's "
            f"parameters (base seed {seed}):\n\n{parameter_table(parameters)}\n"
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
