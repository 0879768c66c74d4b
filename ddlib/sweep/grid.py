"""A sweep grid: parameter lists crossed with seeds, plus fixed values, read from a dict,
YAML or JSON; every point is a flat dict ``fixed | combination | {"seed": s}``."""
from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["Grid", "SCALAR_TYPES"]

SCALAR_TYPES = (bool, int, float, str, type(None))
_KEYS = ("experiment", "params", "seeds", "fixed")


def _check_name(where: str, name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{where}: parameter names must be Python identifiers (they are passed "
                         f"as keyword arguments), got {name!r}")
    if name == "seed":
        raise ValueError(f"{where}: 'seed' is reserved (the grid's seeds list supplies it); "
                         f"rename the parameter")
    return name


def _check_scalar(where: str, value: Any) -> Any:
    if not isinstance(value, SCALAR_TYPES):
        raise TypeError(f"{where} must be a scalar (bool, int, float, str or None) so that the "
                        f"results table stays tidy, got {value!r} ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class Grid:
    """The cartesian product of ``params`` lists, crossed with ``seeds``, plus ``fixed`` values.

    Args:
        params: parameter name -> non-empty list of distinct scalar values (the swept axes, in
            order; the product iterates the last axis fastest).
        seeds: distinct integer seeds; every point gets one as its ``seed`` argument.
        fixed: parameter name -> scalar value, the same for every point.
        experiment: optional dotted name of the point function (``module.function``), as a YAML
            grid names it under ``experiment:``.
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
                raise TypeError(f"params[{name!r}] must be a list of values, got {values!r}")
            if len(values) == 0:
                raise ValueError(f"params[{name!r}] must be a non-empty list, got []")
            for v in values:
                _check_scalar(f"params[{name!r}] value", v)
            canon = [json.dumps(v) for v in values]
            if len(set(canon)) != len(canon):
                raise ValueError(f"params[{name!r}] has repeated values {list(values)}; each point "
                                 f"must be distinct")
            params[name] = tuple(values)
        fixed: dict[str, Any] = {}
        for name, value in self.fixed.items():
            _check_name("fixed", name)
            if name in params:
                raise ValueError(f"{name!r} is both swept (params) and fixed; give it in one place")
            fixed[name] = _check_scalar(f"fixed[{name!r}]", value)
        if isinstance(self.seeds, (str, bytes)) or not isinstance(self.seeds, Sequence) or not self.seeds:
            raise ValueError(f"seeds must be a non-empty list of integers, got {self.seeds!r}")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int):
                raise TypeError(f"seeds must be integers, got {s!r} ({type(s).__name__})")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds has repeated values {list(self.seeds)}")
        if self.experiment is not None and (not isinstance(self.experiment, str) or "." not in self.experiment):
            raise ValueError(f"experiment must be a dotted name 'module.function', got {self.experiment!r}")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "seeds", tuple(self.seeds))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "Grid":
        """A grid from a mapping with keys ``experiment`` (optional), ``params``, ``seeds``, ``fixed`` (optional)."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"a grid spec must be a mapping, got {type(spec).__name__}")
        unknown = sorted(set(spec) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown grid keys {unknown}; valid keys: {list(_KEYS)}")
        if "seeds" not in spec:
            raise ValueError("a grid spec needs 'seeds' (a list of integers)")
        return cls(params=spec.get("params") or {}, seeds=spec["seeds"], fixed=spec.get("fixed") or {},
                   experiment=spec.get("experiment"))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Grid":
        """A grid from a ``.yaml``/``.yml`` or ``.json`` file holding the ``from_dict`` keys."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such grid file: {path}")
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml
            spec = yaml.safe_load(text)
        elif path.suffix.lower() == ".json":
            spec = json.loads(text)
        else:
            raise ValueError(f"grid file must end in .yaml, .yml or .json, got {path.name!r}")
        try:
            return cls.from_dict(spec)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None

    @property
    def names(self) -> list[str]:
        """The column order of the points (fixed names, swept names, then ``seed``)."""
        return [*self.fixed, *self.params, "seed"]

    def points(self) -> list[dict[str, Any]]:
        """Every point, in a deterministic order (swept combinations outer, seeds inner)."""
        out = []
        for combo in itertools.product(*self.params.values()):
            for seed in self.seeds:
                out.append({**self.fixed, **dict(zip(self.params, combo)), "seed": seed})
        return out

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.params.values()) * len(self.seeds)
