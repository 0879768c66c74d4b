"""Notebook parameters, each declared once: in its experiment module, with its value at the book
profile (whose type is the parameter's type) and a line of help::

    PARAMETERS = Parameters(
        ("d", 32, "input dimension"),
        ("link", "he2", '"he2" | "aniso" | "quad" | "he3"'),
    )
    PROFILES = PARAMETERS.profiles(smoke={"d": 16})  # book: the declared values

Everything else reads that one declaration: the notebook's parameters cell holds only ``profile``,
``seed`` and ``results_dir`` and picks up any other parameter a run sets (``given``: papermill's
injected cell, or a line a reader adds), ``resolve_parameters`` fills in the profile and checks
every value with the one type checker (``ddlib.values.check_type``), ``ddlib run`` refuses unknown
names and wrong types from the same declaration before anything runs, and the page shows the
declaration as a table.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ..values import InvalidValue, TypeSpec, check_type, check_value, cli_arg, parse_annotation

__all__ = ["PROFILE_NAMES", "COMMON", "Parameter", "Parameters", "Profiles", "type_of", "resolve_parameters", "given"]

PROFILE_NAMES = ("smoke", "book", "paper")
# Parameters every notebook has in its parameters cell, whatever its experiment declares.
COMMON = {"seed": 0}
CELL = ("profile", "seed", "results_dir")  # the names a notebook's parameters cell itself holds


def type_of(value: Any) -> TypeSpec:
    """The type of a declared value: its scalar kind, or ``list[T]`` from its first item."""
    kind = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(type(value))
    if kind is None:
        return TypeSpec()
    if kind == "list" and value:
        return TypeSpec("list", type_of(value[0]))
    return TypeSpec(kind)


@dataclass(frozen=True)
class Parameter:
    """One parameter: its name, its value at the book profile, a line of help, and its type when
    the value cannot say it (an empty list: ``"list[int]"``; see ``ddlib.values.parse_annotation``)."""

    name: str
    value: Any
    help: str
    annotation: str = ""

    @property
    def type(self) -> TypeSpec:
        return (parse_annotation(self.annotation) or TypeSpec()) if self.annotation else type_of(self.value)


class Profiles(dict):
    """The profiles of a declaration (profile name -> values), which remember the declaration, so
    that ``resolve_parameters`` checks a value against its declared type."""

    def __init__(self, profiles: Mapping[str, dict[str, Any]], declaration: "Parameters") -> None:
        super().__init__(profiles)
        self.declaration = declaration


class Parameters(Mapping[str, Parameter]):
    """An experiment's parameters, declared once as rows ``(name, book value, help[, type])``."""

    def __init__(self, *rows: tuple) -> None:
        self._rows = {row[0]: Parameter(*row) for row in rows}
        if len(self._rows) != len(rows):
            raise ValueError("a parameter is declared twice")
        for p in self._rows.values():
            if p.annotation and parse_annotation(p.annotation) is None:
                raise ValueError(f"parameter {p.name!r}: unknown type {p.annotation!r}")
            check_type(p.name, check_value(p.value, f"parameter {p.name!r}"), p.type)

    def __getitem__(self, name: str) -> Parameter:
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def book(self) -> dict[str, Any]:
        """Every declared value (the book profile)."""
        return {name: copy.deepcopy(p.value) for name, p in self._rows.items()}

    def profiles(self, **others: Mapping[str, Any]) -> "Profiles":
        """``{"smoke": ..., "book": ..., "paper": ...}``: the book profile, and each other profile as
        the book's values with its own overrides (checked: declared names, declared types)."""
        out = {"book": self.book}
        for profile, overrides in others.items():
            for name, value in overrides.items():
                if name not in self._rows:
                    raise ValueError(f"profile {profile!r} sets {name!r}, which is not a declared parameter")
                check_type(name, value, self._rows[name].type)
            out[profile] = {**self.book, **copy.deepcopy(dict(overrides))}
        return Profiles({name: out[name] for name in PROFILE_NAMES if name in out}, self)

    def table(self, profiles: Mapping[str, Mapping[str, Any]]) -> str:
        """The declaration as a narrow Markdown table: name and type, the book profile's value and
        the other profiles' where they differ, and the help.  Values are written as ``-p NAME VALUE``
        takes them in a shell (``cli_arg``), in code spans so no quote is curled."""
        others = [p for p in PROFILE_NAMES if p in profiles and p != "book"]
        rows = ""
        for p in self._rows.values():
            book = profiles.get("book", {}).get(p.name, p.value)
            differ = "; ".join(f"{n}: {_cell(f'`{cli_arg(profiles[n][p.name])}`')}" for n in others
                               if profiles[n][p.name] != book)
            rows += (f"| `{p.name}` ({p.type}) | {_cell(f'`{cli_arg(book)}`')}" + (f" ({differ})" if differ else "")
                     + f" | {_cell(p.help)} |\n")
        return "| parameter (type) | book value (other profiles) | what |\n|---|---|---|\n" + rows


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: its pipes escaped."""
    return text.replace("|", "\\|")


def given(namespace: Mapping[str, Any], profiles: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters a run set in a notebook's namespace (``globals()``): every declared name it
    holds -- papermill's injected cell, or a line a reader added to the parameters cell."""
    declared = set().union(*(set(p) for p in profiles.values()))
    return {name: namespace[name] for name in sorted(declared) if name in namespace and name not in CELL}


def resolve_parameters(profiles: Mapping[str, Mapping[str, Any]], profile: str, **explicit: Any) -> dict[str, Any]:
    """The profile's values (and ``seed``), overridden by every explicit value that is not None.

    The result holds exactly the keyword arguments of the notebook's experiment function, so a
    notebook calls ``run_x(**P)``; the profile's name is not among them (record it separately).
    A value's type is checked against the type of the profile's value (``type_of``) by
    ``ddlib.values.check_type``, the one type checker that ``ddlib run`` also uses.

    Raises:
        ValueError: unknown profile (listing the valid ones) or unknown parameter name.
        TypeError: a value whose type does not match the profile's (naming the parameter).
    """
    if not isinstance(profile, str) or profile not in profiles:
        raise ValueError(f"profile must be one of {sorted(profiles)}, got {profile!r}")
    params = copy.deepcopy({**COMMON, **profiles[profile]})  # never alias a profile's lists
    for name, value in explicit.items():
        if name not in params:
            raise ValueError(f"unknown parameter {name!r}; valid parameters: {sorted(params)}")
        if value is None:
            continue
        declared = getattr(profiles, "declaration", None)
        spec = declared[name].type if declared is not None and name in declared else type_of(params[name])
        try:
            check_type(name, check_value(value, f"parameter {name!r}"), spec)
        except InvalidValue as exc:
            raise TypeError(f"{exc} (like the profile's {params[name]!r})") from None
        params[name] = float(value) if isinstance(params[name], float) else value
    return params

