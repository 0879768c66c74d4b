"""The experiments a grid file may name: a grid file is data, so ``experiment:`` can only pick a
registered point function, never name arbitrary code (``torch.hub.load`` with ``trust_repo``
would otherwise run a hubconf.py).

The registry (``EXPERIMENTS``, a ``ddlib.registry.Registry`` of short name -> dotted path) knows
point functions by name only: the sweep imports none of them until a point runs.  ddlib's book
registers its own points (``ddlib.experiments``) as built-in entries; code can add its own
(``register_experiment``); the command line can allow one more by name (``ddlib sweep
--allow-experiment MODULE.FN``, ``run_sweep(..., allow=[...])``): that is the user saying the grid
file may run that code.  ``run_sweep`` given a function object needs no registration: its caller
is code already.
"""
from __future__ import annotations

import importlib
import re
import sys
from typing import Any, Callable, Iterable, Mapping

from ..registry import Registry
from ..validation import short_repr

__all__ = ["EXPERIMENTS", "UnknownExperiment", "register_experiment", "unregister_experiment",
           "registered_experiments", "resolve_registered", "check_dotted_name", "experiment_name",
           "resolve_experiment"]

EXPERIMENTS: Registry[str] = Registry("experiment")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$")


class UnknownExperiment(ValueError):
    """A grid or a caller names an experiment that is neither registered nor allowed."""


def check_dotted_name(name: Any, what: str = "experiment") -> str:
    """``name`` if it looks like ``name`` or ``module.function`` (identifiers and dots, at most
    200 characters), else ValueError; nothing is imported."""
    if not isinstance(name, str) or len(name) > 200 or not _DOTTED.match(name):
        raise ValueError(f"{what} must be a registered name or a dotted name 'module.function', got "
                         f"{short_repr(name)}")
    return name


def registered_experiments() -> dict[str, str]:
    """Every registered short name -> dotted path (ddlib's own, then this process's)."""
    return dict(EXPERIMENTS.items())


def register_experiment(fn: Callable[..., dict] | Mapping[str, Callable[..., dict]], name: str | None = None,
                        *, builtin: bool = False) -> str | dict[str, str]:
    """Let grid files name ``fn`` (as ``name``, default its ``__name__``, or its dotted path).

    ``fn`` must be a module-level function that worker processes can import; a mapping
    ``{name: fn}`` registers several.  Returns the dotted path(s) recorded.

    Raises:
        ValueError: ``fn`` is not importable by name, or ``name`` is taken by another function.
    """
    if isinstance(fn, Mapping):
        if name is not None:
            raise TypeError("name is given by the mapping's keys; do not pass name with a mapping")
        return {n: register_experiment(f, n, builtin=builtin) for n, f in fn.items()}  # type: ignore[misc]
    dotted = experiment_name(fn)
    short = check_dotted_name(name if name is not None else fn.__name__, "name")
    taken = registered_experiments().get(short)
    if taken is not None and taken != dotted:
        raise ValueError(f"experiment name {short!r} is already registered for {taken}; pass another name")
    if taken != dotted:
        EXPERIMENTS.register(short, dotted, builtin=builtin)
    return dotted


def unregister_experiment(name: str) -> None:
    """Remove a name this process registered (ddlib's own names stay; an unknown name is ignored)."""
    if name in EXPERIMENTS and not EXPERIMENTS.builtin(name):
        EXPERIMENTS.unregister(name)


def resolve_registered(name: str, allow: Iterable[str] = ()) -> str:
    """The dotted path of experiment ``name``, checked against the registry before any import.

    ``name`` may be a registered short name (``learner_point``), the dotted path of a registered
    experiment, or a dotted name in ``allow``.

    Raises:
        UnknownExperiment: anything else, listing the registered names.
        ValueError: ``name`` or an ``allow`` entry is not a dotted name.
    """
    check_dotted_name(name)
    allowed = {check_dotted_name(a, "an allowed experiment") for a in allow}
    registry = registered_experiments()
    if name in registry:
        return registry[name]
    if name in registry.values() or name in allowed:
        return name
    raise UnknownExperiment(
        f"experiment {name!r} is not registered; a grid file may name only a registered experiment: "
        f"{sorted(registry)}. To run your own function, register it in code "
        f"(ddlib.sweep.register_experiment) or allow it explicitly (--allow-experiment {name}, "
        f"run_sweep(..., allow=[{name!r}])): a grid naming it then runs that code"
        + ("; the book's own points (learner_point, memory_point, ...) are registered by importing ddlib.experiments"
           if "ddlib.experiments" not in sys.modules else ""))


def resolve_experiment(name: str) -> Callable[..., dict]:
    """The function named by the dotted path ``module.function`` (any importable module)."""
    if not isinstance(name, str) or "." not in name:
        raise ValueError(f"experiment must be a dotted name 'module.function', got {name!r}")
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import module {module_name!r} of experiment {name!r} ({exc}); "
                          f"worker processes must be able to import it too (install it or put "
                          f"its folder on PYTHONPATH)") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"experiment {name!r}: module {module_name!r} has no function {attr!r}")
    return fn


def experiment_name(fn: Callable[..., Any] | str) -> str:
    """The dotted name of a point function, checked to resolve back to the same function."""
    if isinstance(fn, str):
        resolve_experiment(fn)
        return fn
    if not callable(fn):
        raise TypeError(f"fn must be a function or a dotted name 'module.function', got {fn!r}")
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module in (None, "__main__", "__mp_main__") or "<" in qualname or "." in qualname:
        raise ValueError(f"fn must be a module-level function importable by worker processes "
                         f"(not a lambda, a nested function or one defined in __main__ or a "
                         f"notebook), got {fn!r} from module {module!r}")
    name = f"{module}.{qualname}"
    if resolve_experiment(name) is not fn:
        raise ValueError(f"fn {fn!r} is not what {name!r} imports to; pass a module-level function")
    return name
