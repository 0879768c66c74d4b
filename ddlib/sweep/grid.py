"""A sweep grid: parameter lists crossed with seeds, plus fixed values, read from a dict,
YAML or JSON; every point is a flat dict ``fixed | combination | {"seed": s}``.

A grid file is data: it is read with a loader that knows only strings, numbers, booleans, null,
lists and mappings (no ``!!python/...`` or other tags, no anchors or aliases, so no alias bomb),
bounded in size (``MAX_GRID_BYTES``) and nesting (``MAX_GRID_DEPTH``).  Points are produced one at
a time and counted arithmetically, so a huge grid is refused (``run_sweep``'s ``max_points``)
before a single point is built.
"""
from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..values import INT_BOUND, InvalidValue, refuse_duplicate_keys, short_repr
from .registry import check_dotted_name

__all__ = ["Grid", "GridFileError", "SCALAR_TYPES", "MAX_GRID_BYTES", "MAX_GRID_DEPTH", "MAX_GRID_NODES",
           "load_grid_file"]

SCALAR_TYPES = (bool, int, float, str, type(None))
_KEYS = ("experiment", "params", "seeds", "fixed")
MAX_GRID_BYTES = 1_000_000   # a grid file of ten thousand values is ~100 kB
MAX_GRID_DEPTH = 16          # a grid needs 3 levels (keys, params, value lists)
MAX_GRID_NODES = 200_000     # YAML nodes in one file


class GridFileError(ValueError):
    """A grid file that ddlib does not read: too large, malformed, a tag, an alias, too deep."""


def _check_name(where: str, name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier() or len(name) > 200:
        raise ValueError(f"{where}: parameter names must be Python identifiers (they are passed "
                         f"as keyword arguments), got {short_repr(name)}")
    if name == "seed":
        raise ValueError(f"{where}: 'seed' is reserved (the grid's seeds list supplies it); "
                         f"rename the parameter")
    return name


def _check_scalar(where: str, value: Any) -> Any:
    if not isinstance(value, SCALAR_TYPES):
        raise TypeError(f"{where} must be a scalar (bool, int, float, str or None) so that the "
                        f"results table stays tidy, got {short_repr(value)} ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and not -INT_BOUND <= value < INT_BOUND:
        # as ddlib run refuses them (ddlib.values.check_value): torch and numpy hold no more
        raise InvalidValue(f"{where}: integers must lie in [-2**63, 2**63), got {short_repr(value)}")
    return value


def _check_seed(value: Any) -> int:
    """A grid seed: an int in [0, 2**63), what ddlib.seeds.check_seed accepts at run time."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"seeds must be integers, got {short_repr(value)} ({type(value).__name__})")
    if not 0 <= value < INT_BOUND:
        raise InvalidValue(f"seeds must be integers in [0, 2**63) (ddlib seeds are non-negative 64-bit "
                           f"integers), got {short_repr(value)}")
    return value


# ----------------------------------------------------------------------------------------------
# Reading a grid file as data
# ----------------------------------------------------------------------------------------------

_YAML_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}


def _yaml_loader():
    import yaml

    class GridLoader(yaml.SafeLoader):
        """SafeLoader that refuses anchors, aliases, every tag but the JSON types, duplicate
        keys, nesting deeper than MAX_GRID_DEPTH and more than MAX_GRID_NODES nodes."""

        def __init__(self, stream):
            super().__init__(stream)
            self._depth, self._nodes = 0, 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise GridFileError(f"line {line}: YAML anchors and aliases (&name, *name) are not "
                                    f"allowed in a grid file (they can expand exponentially); write the "
                                    f"values out")
            self._nodes += 1
            if self._nodes > MAX_GRID_NODES:
                raise GridFileError(f"more than {MAX_GRID_NODES:,} values in one grid file")
            if self._depth >= MAX_GRID_DEPTH:
                raise GridFileError(f"line {line}: nested more than {MAX_GRID_DEPTH} levels deep")
            self._depth += 1
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            if node.tag not in _YAML_TAGS:
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                hint = " (quote it to make it a string)" if tag in ("!!timestamp", "!!merge", "!!value") else ""
                raise GridFileError(f"line {line}: the YAML tag {short_repr(tag, 80)} is not allowed in a "
                                    f"grid file, only strings, numbers, booleans, null, lists and "
                                    f"mappings{hint}")
            if isinstance(node, yaml.MappingNode):
                keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
                if len(set(keys)) != len(keys):
                    dup = next(k for k in keys if keys.count(k) > 1)
                    raise GridFileError(f"line {line}: the key {short_repr(dup, 80)} appears twice")
            return node

    return GridLoader


def _check_depth(value: Any, depth: int = 0) -> None:
    if isinstance(value, (list, dict)):
        if depth >= MAX_GRID_DEPTH:
            raise GridFileError(f"nested more than {MAX_GRID_DEPTH} levels deep")
        for v in (value.values() if isinstance(value, dict) else value):
            _check_depth(v, depth + 1)


def _refuse_constant(name: str) -> Any:
    raise GridFileError(f"{name} is not allowed in a grid file: values must be finite")


def load_grid_file(path: str | os.PathLike) -> Any:
    """The data of a ``.yaml``/``.yml`` or ``.json`` grid file, read as data only.

    Raises:
        FileNotFoundError: no such file.
        GridFileError: not a regular file, larger than MAX_GRID_BYTES, not UTF-8, malformed, or
            using anything but plain data (tags, anchors, aliases, NaN), or too deep.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise GridFileError(f"grid file must end in .yaml, .yml or .json, got {short_repr(path.name)}")
    if not path.exists():
        raise FileNotFoundError(f"no such grid file: {path}")
    if not path.is_file():
        raise GridFileError(f"{path} is not a regular file")
    with open(path, "rb") as fh:
        data = fh.read(MAX_GRID_BYTES + 1)
    if len(data) > MAX_GRID_BYTES:
        raise GridFileError(f"{path} is larger than {MAX_GRID_BYTES:,} bytes; a grid file lists values, "
                            f"not data")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GridFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if suffix == ".json":
        try:
            spec = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=refuse_duplicate_keys)
        except RecursionError:
            raise GridFileError(f"nested more than {MAX_GRID_DEPTH} levels deep") from None
        except json.JSONDecodeError as exc:
            raise GridFileError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        except GridFileError:
            raise
        except InvalidValue as exc:  # a key repeated in one object
            raise GridFileError(str(exc)) from None
        except ValueError as exc:  # an integer of more than 4300 digits
            raise GridFileError(f"unreadable number ({str(exc)[:80]})") from None
        _check_depth(spec)
        return spec
    import yaml

    loader = _yaml_loader()(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "malformed YAML").split())
        raise GridFileError(f"not valid YAML: {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise GridFileError(f"not valid YAML: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise GridFileError(f"nested more than {MAX_GRID_DEPTH} levels deep") from None
    except (ValueError, OverflowError) as exc:  # GridFileError, or a number YAML cannot convert
        if isinstance(exc, GridFileError):
            raise
        raise GridFileError(f"unreadable value ({' '.join(str(exc).split())[:120]})") from None
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Grid:
    """The cartesian product of ``params`` lists, crossed with ``seeds``, plus ``fixed`` values.

    Args:
        params: parameter name -> non-empty list of distinct scalar values (the swept axes, in
            order; the product iterates the last axis fastest).
        seeds: distinct integer seeds in [0, 2**63); every point gets one as its ``seed`` argument.
        fixed: parameter name -> scalar value, the same for every point.
        experiment: optional name of the point function, as a YAML grid names it under
            ``experiment:``: a registered name (``learner_point``) or a dotted path
            (``module.function``, which ``run_sweep`` accepts only if registered or allowed).

    Integer values (of ``params``, ``fixed`` and ``seeds``) must lie in [-2**63, 2**63), as
    ``ddlib run`` requires: an out-of-range one is an InvalidValue (a ValueError) here, before
    any point runs.
    """

    params: Mapping[str, Sequence[Any]]
    seeds: Sequence[int]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    experiment: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise TypeError(f"params must be a mapping name -> list of values, got {type(self.params).__name__}")
        if not isinstance(self.fixed, Mapping):
            raise TypeError(f"fixed must be a mapping name -> value, got {type(self.fixed).__name__}")
        params: dict[str, tuple] = {}
        for name, values in self.params.items():
            _check_name("params", name)
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise TypeError(f"params[{name!r}] must be a list of values, got {short_repr(values)}")
            if len(values) == 0:
                raise ValueError(f"params[{name!r}] must be a non-empty list, got []")
            for v in values:
                _check_scalar(f"params[{name!r}] value", v)
            canon = [json.dumps(v) for v in values]
            if len(set(canon)) != len(canon):
                raise ValueError(f"params[{name!r}] has repeated values {short_repr(list(values))}; each "
                                 f"point must be distinct")
            params[name] = tuple(values)
        fixed: dict[str, Any] = {}
        for name, value in self.fixed.items():
            _check_name("fixed", name)
            if name in params:
                raise ValueError(f"{name!r} is both swept (params) and fixed; give it in one place")
            fixed[name] = _check_scalar(f"fixed[{name!r}]", value)
        if isinstance(self.seeds, (str, bytes)) or not isinstance(self.seeds, Sequence) or not self.seeds:
            raise ValueError(f"seeds must be a non-empty list of integers, got {short_repr(self.seeds)}")
        for s in self.seeds:
            _check_seed(s)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds has repeated values {short_repr(list(self.seeds))}")
        if self.experiment is not None:
            check_dotted_name(self.experiment)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "seeds", tuple(self.seeds))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "Grid":
        """A grid from a mapping with keys ``experiment`` (optional), ``params``, ``seeds``, ``fixed`` (optional)."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"a grid spec must be a mapping, got {type(spec).__name__}")
        unknown = sorted(short_repr(k, 40) if not isinstance(k, str) else k[:40] for k in set(spec) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown grid keys {unknown[:10]}; valid keys: {list(_KEYS)}")
        if "seeds" not in spec:
            raise ValueError("a grid spec needs 'seeds' (a list of integers)")
        return cls(params=spec.get("params") or {}, seeds=spec["seeds"], fixed=spec.get("fixed") or {},
                   experiment=spec.get("experiment"))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Grid":
        """A grid from a ``.yaml``/``.yml`` or ``.json`` file holding the ``from_dict`` keys,
        read as data only (``load_grid_file``)."""
        path = Path(path)
        try:
            spec = load_grid_file(path)
            return cls.from_dict(spec)
        except FileNotFoundError:
            raise
        except (TypeError, ValueError) as exc:
            text = str(exc)
            raise type(exc)(text if text.startswith(str(path)) else f"{path}: {text}") from None

    @property
    def names(self) -> list[str]:
        """The column order of the points (fixed names, swept names, then ``seed``)."""
        return [*self.fixed, *self.params, "seed"]

    def points(self) -> Iterator[dict[str, Any]]:
        """Every point, one at a time, in a deterministic order (swept combinations outer,
        seeds inner).  An iterator: ``len(grid)`` counts them without building any."""
        names = list(self.params)
        for combo in itertools.product(*self.params.values()):
            swept = dict(zip(names, combo))
            for seed in self.seeds:
                yield {**self.fixed, **swept, "seed": seed}

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.params.values()) * len(self.seeds)

    def size(self) -> int:
        """The number of points (``len`` as a method: ``len()`` fails above sys.maxsize)."""
        return math.prod(len(v) for v in self.params.values()) * len(self.seeds)

    def record(self) -> dict[str, Any]:
        """The grid as JSON data (params, seeds, fixed), as the sweep manifest stores it."""
        return {"params": {k: list(v) for k, v in self.params.items()}, "seeds": list(self.seeds),
                "fixed": dict(self.fixed)}
