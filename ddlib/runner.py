"""``ddlib run``: re-execute a notebook with new parameters.

The MyST notebook is converted with jupytext, its ``parameters`` cell is read to learn the valid
parameter names (unknown names are refused before anything runs), and papermill executes it in
the output directory, leaving the executed ``.ipynb`` beside the results JSON the notebook writes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping

__all__ = ["notebook_parameters", "parse_value", "prepare_notebook", "run_notebook", "configure_parser",
           "RunnerError"]


class RunnerError(ValueError):
    """A notebook or a parameter that ``ddlib run`` cannot accept."""


def _read(path: Path):
    import jupytext

    if not path.is_file():
        raise RunnerError(f"no such notebook: {path}")
    if path.suffix not in (".md", ".ipynb"):
        raise RunnerError(f"expected a MyST .md or an .ipynb notebook, got {path.name}")
    return jupytext.read(path)


def _parameters_cell(nb) -> Any:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell
    raise RunnerError("the notebook has no code cell tagged 'parameters'")


def notebook_parameters(path: str | Path) -> dict[str, str]:
    """Names and default source text of the parameters a notebook declares in its parameters cell."""
    from papermill.translators import PythonTranslator

    cell = _parameters_cell(_read(Path(path)))
    params = PythonTranslator.inspect(cell)
    if not params:
        raise RunnerError(f"{path}: could not read any parameter from the parameters cell")
    return {p.name: p.default for p in params}


def parse_value(text: str) -> Any:
    """A command-line value: int, float, bool/None, a YAML list or mapping, else the string."""
    import yaml

    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (bool, list, dict, type(None))) else text


def _check_names(path: Path, parameters: Mapping[str, Any]) -> None:
    valid = notebook_parameters(path)
    unknown = sorted(set(parameters) - set(valid))
    if unknown:
        raise RunnerError(f"unknown parameter(s) {unknown} for {path.name}; valid parameters: {sorted(valid)}")
    from .experiments.parameters import PROFILE_NAMES

    if "profile" in parameters and parameters["profile"] not in PROFILE_NAMES:
        raise RunnerError(f"profile must be one of {list(PROFILE_NAMES)}, got {parameters['profile']!r}")


def prepare_notebook(path: str | Path, output: str | Path, parameters: Mapping[str, Any]) -> Path:
    """Convert ``path`` to ``.ipynb`` at ``output`` with ``parameters`` injected (not executed)."""
    import jupytext
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    path, output = Path(path), Path(output)
    _check_names(path, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(_read(path), output, fmt="ipynb")
    nb = parameterize_notebook(load_notebook_node(str(output)), dict(parameters))
    nbformat.write(nb, output)
    return output


def run_notebook(path: str | Path, output_dir: str | Path, parameters: Mapping[str, Any],
                 kernel_name: str = "python3", progress: bool = True) -> Path:
    """Execute ``path`` with ``parameters`` in ``output_dir``; return the executed notebook's path.

    ``results_dir`` defaults to ``output_dir`` so the results JSON lands beside the notebook.
    """
    import papermill

    path, output_dir = Path(path), Path(output_dir).resolve()
    parameters = dict(parameters)
    valid = notebook_parameters(path)
    if "results_dir" in valid:
        parameters.setdefault("results_dir", str(output_dir))
    prepared = prepare_notebook(path, output_dir / f"{path.stem}.input.ipynb", parameters)
    executed = output_dir / f"{path.stem}.ipynb"
    try:
        papermill.execute_notebook(str(prepared), str(executed), cwd=str(output_dir),
                                   kernel_name=kernel_name, progress_bar=progress)
    finally:
        prepared.unlink(missing_ok=True)
    return executed


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", type=Path, help="a MyST notebook, e.g. notebooks/02_generalization.md")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a parameter of the notebook's parameters cell (repeatable)")
    p.add_argument("--profile", choices=["smoke", "book", "paper"], help="the profile (sets -p profile)")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="where the executed notebook and its results go (default: runs/<notebook>)")
    p.add_argument("--prepare-only", action="store_true",
                   help="write the converted, parameterised notebook without executing it")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    p.add_argument("--threads", type=int, default=None,
                   help="OMP_NUM_THREADS for the kernel (default: inherited, else 1; the notebooks' "
                        "work is many small tensor operations, which extra threads slow down)")
    p.set_defaults(func=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    import os

    parameters = {name: parse_value(value) for name, value in args.parameter}
    if args.threads is not None:
        if args.threads < 1:
            print(f"ddlib run: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the kernel process
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.profile:
        parameters["profile"] = args.profile
    output_dir = args.output_dir or Path("runs") / args.notebook.stem
    try:
        if args.prepare_only:
            out = prepare_notebook(args.notebook, Path(output_dir) / f"{args.notebook.stem}.ipynb", parameters)
            print(f"prepared {out}")
            return 0
        executed = run_notebook(args.notebook, output_dir, parameters, kernel_name=args.kernel)
    except RunnerError as exc:
        print(f"ddlib run: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # papermill's execution error carries the failing cell
        if type(exc).__name__ == "PapermillExecutionError":
            print(f"ddlib run: the notebook failed: {exc}", file=sys.stderr)
            return 1
        raise
    print(f"executed notebook: {executed}")
    for f in sorted(Path(output_dir).glob("*.json")):
        print(f"results: {f}")
    return 0
