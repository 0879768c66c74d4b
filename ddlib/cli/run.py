"""``ddlib run``: re-execute a notebook with new parameters.

The MyST notebook is converted with jupytext and its ``parameters`` cell read to learn the
valid names and their declared types (``name: int = None  # help``; without an annotation, the
type of the default literal); a book notebook's other parameters come from the one declaration in
its experiment module (``PARAMETERS``, see ``ddlib.experiments.parameters``).  Every value is checked before anything runs: unknown names,
values that are not JSON-typed data, too large, not finite or of the wrong type are refused
with one line (exit 2).  The injected cell is rendered by ddlib as plain literals proved to
read back with ``ast.literal_eval`` (``ddlib.values``), so a value can never become code.
papermill executes the notebook in the output directory, leaving the executed ``.ipynb``
beside the results JSON the notebook writes; if that JSON carries ``verdicts``, the exit status
says whether every claim holds (0) or not (3).
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..book.claims import VERDICTS  # the four verdicts a notebook can report
from ..book.notebooks import NOTEBOOKS, experiment_module
from ..experiments.parameters import PROFILE_NAMES
from ..io import ArtifactError, read_json
from ..methods import ALLOWED_MODULES_ENV
from ..validation import one_line
from ..values import (ANY, InvalidValue, TypeSpec, check_type, check_value, coerce_cli_value, parse_annotation,
                     render_assignments, short_repr)
from ..values import parse_value as _parse_value
from .errors import CliError

__all__ = ["notebook_parameters", "parameter_specs", "ParameterSpec", "parse_value", "check_parameters",
           "prepare_notebook", "run_notebook", "dry_run", "results_json", "read_claims", "ClaimOutcome", "VERDICTS",
           "configure_parser", "RunnerError", "NotebookFailed"]

EXIT_STATUSES = """exit status:
  0  the notebook ran and every claim it checks holds (or it reports no verdicts);
     with --dry-run: every check passed, nothing was written or executed
  3  the notebook ran, and some claim does not hold, is inconclusive or is outside its regime
     (one line per such claim on stderr: claim <id> <verdict>: <measured vs threshold>)
  2  bad invocation, refused before anything runs: unknown parameter, bad value or type,
     unreadable notebook, unwritable output folder, unknown kernel
  1  a genuine error while running (one line naming the failing cell's exception;
     --debug shows the traceback)"""


class RunnerError(ValueError):
    """A notebook, a parameter, a kernel or an output folder that ``ddlib run`` cannot accept
    (refused before anything runs: exit status 2)."""


class NotebookFailed(RuntimeError):
    """The notebook ran and raised, or its results file is unusable (exit status 1)."""


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a notebook's parameters cell: its default source text, its declared
    annotation (None if none), the type ddlib checks values against, and its help comment."""

    name: str
    default: str
    annotation: str | None
    type: TypeSpec
    help: str = ""


@dataclass(frozen=True)
class ClaimOutcome:
    """One claim verdict a notebook reports in its results JSON under ``verdicts``."""

    id: str
    verdict: str
    line: str


def _read(path: Path):
    import jupytext

    if not path.is_file():
        raise RunnerError(f"no such notebook: {path}")
    if path.suffix not in (".md", ".ipynb"):
        raise RunnerError(f"expected a MyST .md or an .ipynb notebook, got {path.name}")
    try:
        return jupytext.read(path)
    except Exception as exc:  # nbformat, json, yaml and jupytext raise many types
        raise RunnerError(f"{path}: not a readable notebook ({type(exc).__name__}: "
                          f"{one_line(exc, 200)})") from exc


def _parameters_cell(nb) -> Any:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell
    raise RunnerError("the notebook has no code cell tagged 'parameters'")


def _inferred(default: str) -> TypeSpec:
    """The type of a default literal (None or a non-literal default: any JSON value)."""
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ANY
    kind = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(type(value))
    return TypeSpec(kind) if kind else ANY


def parameter_specs(path: str | Path) -> dict[str, ParameterSpec]:
    """The parameters a notebook declares in its parameters cell, with their checked types.

    The type comes from the annotation (``d: int = None``, see ``ddlib.values.parse_annotation``),
    else from the default's literal (``seed = 0`` is an int); a None default or an annotation
    ddlib does not understand accepts any JSON value.
    """
    from papermill.translators import PythonTranslator

    cell = _parameters_cell(_read(Path(path)))
    params = PythonTranslator.inspect(cell)
    if not params:
        raise RunnerError(f"{path}: could not read any parameter from the parameters cell")
    out = {}
    for p in params:
        annotation = p.inferred_type_name if p.inferred_type_name not in (None, "None") else None
        spec = parse_annotation(annotation) if annotation else _inferred(p.default)
        out[p.name] = ParameterSpec(p.name, p.default, annotation, spec or ANY, p.help)
    return {**_declared(Path(path)), **out}


def _declared(path: Path) -> dict[str, ParameterSpec]:
    """The parameters a book notebook's experiment module declares (``PARAMETERS``; the notebook
    is known by its name in ``ddlib.book.notebooks``): default None, "the profile's value"."""
    if path.stem not in NOTEBOOKS:
        return {}
    declared = getattr(experiment_module(path.stem), "PARAMETERS", None) or {}
    return {name: ParameterSpec(name, "None", str(p.type), p.type, p.help) for name, p in declared.items()}


def notebook_parameters(path: str | Path) -> dict[str, str]:
    """Names and default source text of the parameters a notebook declares in its parameters cell."""
    return {name: spec.default for name, spec in parameter_specs(path).items()}


def parse_value(text: str) -> Any:
    """A command-line value: its JSON value (number, true/false, null, list, object, quoted
    string), else the text itself as a string (``he2``, ``off``, ``None``).  See
    ``ddlib.values.parse_value`` for the bounds; raises ``InvalidValue`` (a ValueError)."""
    return _parse_value(text)


def _check_names(path: Path, parameters: Mapping[str, Any], specs: Mapping[str, ParameterSpec]) -> None:
    unknown = sorted(set(parameters) - set(specs))
    if unknown:
        shown = [short_repr(u, 60) if not (isinstance(u, str) and u.isidentifier() and len(u) <= 60) else u
                 for u in unknown[:10]]
        raise RunnerError(f"unknown parameter(s) {shown} for {path.name}; valid parameters: {sorted(specs)}")


def check_parameters(path: str | Path, parameters: Mapping[str, Any],
                     specs: Mapping[str, ParameterSpec] | None = None) -> dict[str, Any]:
    """``parameters`` checked against the notebook's parameters cell, before anything runs.

    Names must be declared; values JSON-typed, bounded and finite (``ddlib.values.check_value``)
    and of the declared type; ``profile`` one of smoke, book, paper.  Returns a checked copy.

    Raises:
        RunnerError: the first problem, naming the parameter, what was expected and (truncated)
            what was received.
    """
    path = Path(path)
    specs = parameter_specs(path) if specs is None else specs
    _check_names(path, parameters, specs)
    out = {}
    try:
        for name, value in parameters.items():
            spec = specs[name].type
            out[name] = check_type(name, check_value(value, f"parameter {name!r}", allow_inf=spec.allow_inf), spec)
    except InvalidValue as exc:
        raise RunnerError(str(exc)) from None
    for name, value in out.items():  # null means "the profile's value": only where the default is None
        if value is None and specs[name].default.strip() != "None":
            raise RunnerError(f"parameter {name!r} cannot be null: its default is {specs[name].default.strip()} "
                              f"(null stands for the profile's value only where a parameter defaults to None)")

    if "profile" in out and out["profile"] not in PROFILE_NAMES:
        raise RunnerError(f"profile must be one of {list(PROFILE_NAMES)}, got {short_repr(out['profile'])}")
    return out


def _check_kernel(kernel_name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise RunnerError(f"unknown kernel {short_repr(kernel_name)}; installed kernels: "
                          f"{sorted(manager.find_kernel_specs())}") from None


def _writable_folder(folder: Path, what: str) -> Path:
    """``folder``, created if needed; RunnerError if it is a file, cannot be made or written."""
    if folder.exists() and not folder.is_dir():
        raise RunnerError(f"the {what} {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunnerError(f"cannot create the {what} {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunnerError(f"the {what} {folder} is not writable")
    return folder


def _inject(nb, parameters: Mapping[str, Any]):
    """``nb`` with an ``injected-parameters`` cell after the parameters cell (replacing one
    already there), rendered by ``render_assignments``: nothing but literal assignments."""
    import nbformat

    cell = nbformat.v4.new_code_cell(source=render_assignments(parameters))
    cell.metadata["tags"] = ["injected-parameters"]
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    injected = next((i for i, t in enumerate(tags) if "injected-parameters" in t), None)
    if injected is not None:
        nb.cells[injected] = cell
    else:
        at = next(i for i, t in enumerate(tags) if "parameters" in t and nb.cells[i].cell_type == "code")
        nb.cells.insert(at + 1, cell)
    nb.metadata.setdefault("papermill", {})["parameters"] = dict(parameters)
    return nb


def prepare_notebook(path: str | Path, output: str | Path, parameters: Mapping[str, Any]) -> Path:
    """Convert ``path`` to ``.ipynb`` at ``output`` with ``parameters`` injected (not executed).

    Every name and value is checked first (``check_parameters``); nothing is written if one is
    refused, nor when ``output`` is the source notebook itself.
    """
    import jupytext
    import nbformat
    from papermill.iorw import load_notebook_node

    path, output = Path(path), _not_the_source(Path(path), Path(output))
    parameters = check_parameters(path, parameters)
    nb = _read(path)
    _writable_folder(output.parent, "output folder")
    try:
        jupytext.write(nb, output, fmt="ipynb")
        nb = _inject(load_notebook_node(str(output)), parameters)
        nbformat.write(nb, output)
    except OSError as exc:
        raise RunnerError(f"cannot write {output}: {exc.strerror or exc}") from None
    return output


def results_json(path: str | Path, output_dir: str | Path, parameters: Mapping[str, Any]) -> Path:
    """Where the notebook writes its results JSON: ``<results_dir>/<notebook stem>.json``, a
    relative ``results_dir`` being relative to ``output_dir`` (the kernel's working directory)."""
    output_dir = Path(output_dir).resolve()
    results_dir = parameters.get("results_dir")
    folder = output_dir / results_dir if isinstance(results_dir, str) else output_dir
    return folder / f"{Path(path).stem}.json"


def read_claims(path: str | Path) -> list[ClaimOutcome] | None:
    """The claim verdicts of a results JSON (``ddlib.io.write_json``), or None when the file is
    absent or has no ``verdicts`` key.

    ``verdicts`` must be a list of dicts, each with ``id`` (str), ``verdict`` (one of
    ``VERDICTS``) and ``line`` (a one-line summary: "<check> measured ... vs threshold ...").

    Raises:
        NotebookFailed: the file has verdicts but is corrupted or malformed.
    """

    path = Path(path)
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except ArtifactError as exc:
        try:  # a notebook may write plain JSON; it only matters if it reports verdicts
            plain = read_json(path, verify=False)
        except ArtifactError:
            plain = None
        if isinstance(plain, dict) and "verdicts" not in plain:
            return None
        raise NotebookFailed(f"cannot trust the verdicts of {path}: {one_line(exc)}") from None
    if not isinstance(record, dict) or "verdicts" not in record:
        return None
    verdicts = record["verdicts"]
    if not isinstance(verdicts, list):
        raise NotebookFailed(f"{path}: 'verdicts' must be a list of {{id, verdict, line}} dicts, got "
                             f"{type(verdicts).__name__}")
    claims = []
    for i, v in enumerate(verdicts):
        if not (isinstance(v, dict) and isinstance(v.get("id"), str) and v.get("verdict") in VERDICTS
                and isinstance(v.get("line"), str)):
            raise NotebookFailed(f"{path}: verdicts[{i}] must be a dict with 'id' (str), 'verdict' (one of "
                                 f"{list(VERDICTS)}) and 'line' (str), got {short_repr(v)}")
        claims.append(ClaimOutcome(one_line(v["id"], 80), v["verdict"], one_line(v["line"])))
    return claims


def _not_the_source(source: Path, target: Path) -> Path:
    """``target``, unless it is the source notebook itself (re-running an executed notebook in
    its own folder would overwrite it): then a RunnerError saying to pick another folder."""
    if Path(target).resolve() == Path(source).resolve():
        raise RunnerError(f"the output would overwrite the notebook being run ({source}): choose another "
                          f"--output-dir")
    return Path(target)


def run_notebook(path: str | Path, output_dir: str | Path, parameters: Mapping[str, Any],
                 kernel_name: str = "python3", progress: bool = True) -> Path:
    """Execute ``path`` with ``parameters`` in ``output_dir``; return the executed notebook's path.

    ``results_dir`` defaults to ``output_dir`` so the results JSON lands beside the notebook.
    Names, values, the kernel and the output folder are checked before anything runs.

    Raises:
        RunnerError: refused before anything ran.
        NotebookFailed: a cell raised (the message names its exception).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    path, output_dir = Path(path), Path(output_dir).resolve()
    parameters = dict(parameters)
    if "results_dir" in parameter_specs(path):
        parameters.setdefault("results_dir", str(output_dir))
    check_parameters(path, parameters)
    _check_kernel(kernel_name)
    _writable_folder(output_dir, "output folder")
    executed = _not_the_source(path, output_dir / f"{path.stem}.ipynb")
    prepared = prepare_notebook(path, output_dir / f"{path.stem}.input.ipynb", parameters)
    # papermill rewrites its output after every cell: it writes a temporary file beside the
    # executed notebook, which replaces it only once papermill has written it whole (also when a
    # cell failed), so an interrupted run or a full disk never leaves a truncated notebook.
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.partial.", suffix=".ipynb", dir=output_dir)
    os.close(fd)
    partial = Path(name)
    try:
        papermill.execute_notebook(str(prepared), str(partial), cwd=str(output_dir),
                                   kernel_name=kernel_name, progress_bar=progress)
    except PapermillExecutionError as exc:
        os.replace(partial, executed)
        evalue = one_line(exc.evalue, 240)
        raise NotebookFailed(f"the notebook failed in cell [{exc.exec_count}]: {exc.ename}"
                             f"{': ' + evalue if evalue else ''} (executed notebook: {executed})") from exc
    else:
        os.replace(partial, executed)
    finally:
        prepared.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return executed


def _would_write(folder: Path, what: str) -> None:
    """RunnerError unless ``folder`` could be created and written (nothing is created): it is a
    writable folder, or its nearest existing parent is."""
    folder = Path(folder).resolve()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise RunnerError(f"the {what} {folder} cannot be created: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunnerError(f"the {what} {folder} is not writable" if existing == folder else
                          f"the {what} {folder} cannot be created: {existing} is not writable")


def dry_run(path: str | Path, output_dir: str | Path, parameters: Mapping[str, Any], kernel_name: str = "python3",
            prepare_only: bool = False) -> str:
    """What ``ddlib run`` would do, checked as a run checks it -- notebook, names, values, types,
    kernel, output folder, the injected cell -- but nothing written or executed: the lines it
    would print. So a command shown on a page can be tried before it runs for hours.

    Raises:
        RunnerError: what a run would refuse (exit status 2).
    """
    path, output_dir = Path(path), Path(output_dir)
    parameters = dict(parameters)
    specs = parameter_specs(path)
    if "results_dir" in specs and not prepare_only:
        parameters.setdefault("results_dir", str(output_dir.resolve()))
    checked = check_parameters(path, parameters, specs)
    if not prepare_only:
        _check_kernel(kernel_name)
    _would_write(output_dir, "output folder")
    target = _not_the_source(path, output_dir / f"{path.stem}.ipynb")
    cell = render_assignments(checked)
    _inject(_read(path), checked)  # the notebook takes the cell (it has a parameters cell)
    action = "prepare" if prepare_only else f"execute (kernel {kernel_name})"
    return (f"dry run: would {action} {path} into {target}, with the parameters cell\n"
            + "\n".join(f"    {line}" for line in cell.splitlines()) + "\nnothing was written or executed")


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = ("Execute a notebook with parameters (papermill), checking every name and value "
                     "against its parameters cell before anything runs.")
    p.epilog = EXIT_STATUSES
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("notebook", type=Path, help="a MyST notebook, e.g. notebooks/02_generalization.md")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a parameter of the notebook's parameters cell (repeatable). VALUE is read as "
                        "JSON (5, 0.5, true, null, [2, 4], {\"a\": 1}, \"text\"); anything else is the "
                        "literal string (he2, off). It must match the parameter's declared type.")
    p.add_argument("--profile", choices=["smoke", "book", "paper"], help="the profile (sets -p profile)")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="where the executed notebook and its results go (default: runs/<notebook>)")
    p.add_argument("--prepare-only", action="store_true",
                   help="write the converted, parameterised notebook without executing it")
    p.add_argument("--dry-run", action="store_true",
                   help="check the notebook, every parameter, the kernel and the output folder, print what "
                        "would run (the injected parameters cell), and exit 0 without writing or executing")
    p.add_argument("--allow-module", action="append", default=[], metavar="MODULE",
                   help="import MODULE in the notebook's kernel before it runs (it registers your own methods, "
                        "ddlib.methods.register_stage1/2); found from the current folder; repeatable; it runs that "
                        "code, so allow only code you trust")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    p.add_argument("--threads", type=int, default=None,
                   help="OMP_NUM_THREADS for the kernel (default: inherited, else 1; the notebooks' "
                        "work is many small tensor operations, which extra threads slow down)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_main)


def allow_modules(modules: Sequence[str]) -> None:
    """Make the kernel import ``modules`` first (``ddlib.methods.import_allowed_modules``): each must be
    importable from the current folder; the folder joins the kernel's PYTHONPATH."""
    import importlib.util

    if not modules:
        return
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    for name in modules:
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise RunnerError(f"--allow-module {name!r}: no such module importable from {here} (a file {name}.py "
                              f"there, or an installed module)")
    os.environ[ALLOWED_MODULES_ENV] = ",".join(modules)
    os.environ["PYTHONPATH"] = os.pathsep.join([here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                         if p])


def _cli_main(args: argparse.Namespace) -> int:
    try:
        if args.threads is not None and args.threads < 1:
            raise RunnerError(f"--threads must be >= 1, got {args.threads}")
        specs = parameter_specs(args.notebook)
        names = [name for name, _ in args.parameter]
        _check_names(args.notebook, dict.fromkeys(names), specs)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise RunnerError(f"parameter(s) {repeated} given more than once")
        try:
            parameters = {name: coerce_cli_value(name, text, specs[name].type) for name, text in args.parameter}
        except InvalidValue as exc:
            raise RunnerError(str(exc)) from None
        if args.profile:
            parameters["profile"] = args.profile
        check_parameters(args.notebook, parameters, specs)
        if args.threads is not None:
            os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the kernel process
        else:
            os.environ.setdefault("OMP_NUM_THREADS", "1")
        output_dir = args.output_dir or Path("runs") / args.notebook.stem
        allow_modules(args.allow_module)
        if args.dry_run:
            print(dry_run(args.notebook, output_dir, parameters, kernel_name=args.kernel,
                          prepare_only=args.prepare_only))
            return 0
        if args.prepare_only:
            out = prepare_notebook(args.notebook, Path(output_dir) / f"{args.notebook.stem}.ipynb", parameters)
            print(f"prepared {out}")
            return 0
        if "results_dir" in specs:
            parameters.setdefault("results_dir", str(Path(output_dir).resolve()))
        executed = run_notebook(args.notebook, output_dir, parameters, kernel_name=args.kernel,
                                progress=not args.no_progress)
        claims = read_claims(results_json(args.notebook, output_dir, parameters))
    except RunnerError as exc:
        raise CliError(str(exc), 2) from exc
    except NotebookFailed as exc:
        raise CliError(str(exc), 1) from exc
    print(f"executed notebook: {executed}")
    for f in sorted(Path(output_dir).glob("*.json")):
        print(f"results: {f}")
    if not claims:
        return 0
    failing = [c for c in claims if c.verdict != "holds"]
    for c in failing:
        print(f"claim {c.id} {c.verdict}: {c.line}", file=sys.stderr)
    if failing:
        return 3
    print(f"every claim holds ({len(claims)})")
    return 0
