"""Parameter values are data, never code.

``ddlib run -p NAME VALUE`` and ``run_notebook(..., parameters)`` accept only JSON-typed values
(str, int, float, bool, None, lists and str-keyed dicts of those, all the way down), bounded in
size, nesting and length, with finite floats.  They are checked against the type the notebook's
parameters cell declares (``name: int = None  # help``) and written into the injected cell as
Python literals that are proved, before anything runs, to parse back with ``ast.literal_eval``
to the same value: whatever a value holds (quotes, newlines, backslashes, ``$(...)``), the cell
only assigns constants.

Why not YAML or papermill's own rendering: ``yaml.safe_load`` still yields tuples
(``!!pairs``/``!!omap``) and bytes (``!!binary``), expands aliases exponentially and turns
``off`` into False; papermill renders a value of any other type with ``str()``, unescaped, into
code the kernel runs.
"""
from __future__ import annotations

import ast
import json
import keyword
import math
import re
import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from .validation import short_repr

__all__ = ["InvalidValue", "TypeSpec", "ANY", "MAX_VALUE_BYTES", "MAX_DEPTH", "MAX_ITEMS", "INT_BOUND",
           "REPR_LIMIT", "parse_value", "cli_text", "cli_arg", "check_value", "parse_annotation", "check_type",
           "coerce_cli_value", "python_literal", "render_assignments", "refuse_duplicate_keys"]

MAX_VALUE_BYTES = 64 * 1024  # one value: bytes of its text (UTF-8) or of its JSON encoding
MAX_DEPTH = 16               # nesting of lists and dicts in one value
MAX_ITEMS = 10_000           # elements of all the lists and dicts of one value together
INT_BOUND = 2 ** 63          # integers lie in [-2**63, 2**63): what torch and numpy hold
REPR_LIMIT = 200             # characters of a user value quoted in an error message

_INF_TEXT = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
             "+infinity": math.inf, "-infinity": -math.inf}


class InvalidValue(ValueError):
    """A parameter value ddlib refuses: not JSON-typed, too large, too deep, not finite, or not
    of the parameter's declared type.  The message names the parameter, what was expected and
    (truncated) what was received."""


# ----------------------------------------------------------------------------------------------
# JSON-typed values
# ----------------------------------------------------------------------------------------------

def check_value(value: Any, where: str = "value", *, allow_inf: bool = False) -> Any:
    """``value`` if it is JSON-typed all the way down and within the bounds, else InvalidValue.

    Types must be exactly str, int, bool, float, None, list or dict with str keys (subclasses,
    tuples, bytes, sets, numpy scalars are refused: their repr is not a plain literal).  Floats
    must be finite (``allow_inf`` admits +-inf, never NaN); integers lie in [-2**63, 2**63).
    Returns a copy (lists and dicts rebuilt), so the caller's later changes cannot alter it.
    """
    budget = [MAX_ITEMS]

    def walk(v: Any, at: str, depth: int) -> Any:
        t = type(v)
        if v is None or t is bool or t is str:
            if t is str and len(v) > MAX_VALUE_BYTES:
                raise InvalidValue(f"{at}: a string of {len(v):,} characters is longer than the "
                                   f"limit of {MAX_VALUE_BYTES:,}")
            return v
        if t is int:
            if not -INT_BOUND <= v < INT_BOUND:
                raise InvalidValue(f"{at}: integers must lie in [-2**63, 2**63), got {short_repr(v, REPR_LIMIT)}")
            return v
        if t is float:
            if math.isnan(v) or (math.isinf(v) and not allow_inf):
                raise InvalidValue(f"{at}: numbers must be finite, got {v!r}")
            return v
        if t is list or t is dict:
            if depth >= MAX_DEPTH:
                raise InvalidValue(f"{at}: nested more than {MAX_DEPTH} levels deep")
            budget[0] -= len(v)
            if budget[0] < 0:
                raise InvalidValue(f"{at}: more than {MAX_ITEMS:,} list or dict elements in one value")
            if t is list:
                return [walk(x, f"{at}[{i}]", depth + 1) for i, x in enumerate(v)]
            out = {}
            for k, x in v.items():
                if type(k) is not str:
                    raise InvalidValue(f"{at}: dict keys must be strings, got {short_repr(k, REPR_LIMIT)} "
                                       f"({type(k).__name__})")
                out[k] = walk(x, f"{at}[{k!r}]" if len(k) <= 40 else f"{at}[...]", depth + 1)
            return out
        raise InvalidValue(f"{at}: only JSON-typed values are accepted (str, int, float, bool, "
                           f"None, list, dict with str keys), got {short_repr(v, REPR_LIMIT)} ({t.__name__})")

    out = walk(value, where, 0)
    try:
        size = len(json.dumps(out, ensure_ascii=False, allow_nan=True).encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidValue(f"{where}: strings must be valid Unicode text (no lone surrogates), "
                           f"got {short_repr(value, REPR_LIMIT)}") from None
    if size > MAX_VALUE_BYTES:
        raise InvalidValue(f"{where}: the value takes {size:,} bytes as JSON, more than the limit "
                           f"of {MAX_VALUE_BYTES:,}")
    return out


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


class _NonFinite(Exception):
    pass


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    """``json.loads``'s ``object_pairs_hook`` that refuses a key repeated in one object (JSON
    itself would keep the last silently): InvalidValue naming the key."""
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise InvalidValue(f"the key {short_repr(k, REPR_LIMIT)} appears twice in one JSON object")
        out[k] = v
    return out


def parse_value(text: str, where: str = "value", *, allow_inf: bool = False) -> Any:
    """A command-line value: its JSON value if ``text`` is valid JSON, else ``text`` itself.

    So ``5``, ``0.5``, ``true``, ``null``, ``[2, 4]``, ``{"a": 1}`` and ``"quoted"`` are JSON;
    ``he2``, ``off``, ``None`` and ``$(rm -rf ~)`` stay literal strings.  The text is bounded
    (``MAX_VALUE_BYTES``), the value checked by ``check_value``.  ``NaN``/``Infinity`` and
    numbers that overflow (``1e400``) are refused, except infinities when ``allow_inf``
    (``inf``, ``-inf``, ``Infinity``, ``1e400``).

    Raises:
        InvalidValue: text too long or not Unicode, or a JSON value ``check_value`` refuses.
    """
    if not isinstance(text, str):
        raise InvalidValue(f"{where}: expected the value's text (str), got {type(text).__name__}")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidValue(f"{where}: the value is not valid UTF-8 text: {short_repr(text, REPR_LIMIT)}") from None
    if size > MAX_VALUE_BYTES:
        raise InvalidValue(f"{where}: the value has {size:,} bytes, more than the limit of "
                           f"{MAX_VALUE_BYTES:,}: {short_repr(text, REPR_LIMIT)}")
    if allow_inf and text.strip().lower() in _INF_TEXT:
        return _INF_TEXT[text.strip().lower()]
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=refuse_duplicate_keys)
    except _NonFinite as exc:
        if allow_inf and str(exc) != "NaN":
            value = json.loads(text, object_pairs_hook=refuse_duplicate_keys)
        else:
            raise InvalidValue(f"{where}: numbers must be finite, got {exc} in {short_repr(text, REPR_LIMIT)}") from None
    except InvalidValue as exc:  # a duplicate key
        raise InvalidValue(f"{where}: {exc}") from None
    except RecursionError:
        raise InvalidValue(f"{where}: nested more than {MAX_DEPTH} levels deep: {short_repr(text, REPR_LIMIT)}") from None
    except json.JSONDecodeError:
        return check_value(text, where)  # not JSON: the literal string
    except ValueError:  # an integer of more than 4300 digits
        raise InvalidValue(f"{where}: integers must lie in [-2**63, 2**63), got {short_repr(text, REPR_LIMIT)}") from None
    try:
        return check_value(value, where, allow_inf=allow_inf)
    except InvalidValue as exc:
        if "finite" in str(exc):
            raise InvalidValue(f"{exc} (written {short_repr(text, REPR_LIMIT)}; it overflows a float)") from None
        raise


def cli_text(value: Any) -> str:
    """The text ``parse_value`` reads back as ``value`` (what follows ``-p NAME``): a string as
    itself when it reads back unchanged (``he2``), else JSON (``["aniso", "quad"]``, ``0.05``,
    ``true``, ``"2024"``), so a page can show values a reader pastes, never Python's repr.  JSON's
    spaces after commas let a long list wrap in a narrow table."""
    if isinstance(value, str):
        try:
            if parse_value(value) == value:
                return value
        except InvalidValue:
            pass
    return json.dumps(value, ensure_ascii=False)


def cli_arg(value: Any) -> str:
    """``cli_text(value)`` as one shell word (quoted where bash would split or expand it), so a
    pasted ``-p NAME VALUE`` reaches ``ddlib run`` as written: ``'["aniso", "quad"]'``."""
    return shlex.quote(cli_text(value))


# ----------------------------------------------------------------------------------------------
# Declared types: the annotations of the parameters cell
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TypeSpec:
    """A parameter's declared type: ``kind`` is any, int, float, bool, str, list or dict;
    ``item`` the type of list elements or dict values; ``allow_inf`` admits +-inf (floats)."""

    kind: str = "any"
    item: "TypeSpec | None" = None
    allow_inf: bool = False

    def __str__(self) -> str:
        if self.kind in ("list", "dict") and self.item is not None and self.item.kind != "any":
            return f"{self.kind}[{self.item}]" if self.kind == "list" else f"dict[str, {self.item}]"
        return "float or inf" if self.allow_inf else self.kind


ANY = TypeSpec()
_SCALARS = {"int": "int", "float": "float", "bool": "bool", "str": "str", "Any": "any", "object": "any"}
_CONTAINERS = {"list": "list", "List": "list", "dict": "dict", "Dict": "dict"}
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*|\[|\]|,)")


def parse_annotation(text: str | None) -> TypeSpec | None:
    """The TypeSpec of a parameters-cell annotation, or None if it is not one ddlib checks.

    Understood: ``int``, ``float``, ``bool``, ``str``, ``list``, ``dict``, ``list[T]``,
    ``dict[str, T]``, ``Optional[T]`` (None is always accepted anyway), ``Any`` and the
    string annotation ``"float or inf"`` (a float that may be +-inf).
    """
    if text is None or not text.strip() or text.strip() == "None":
        return None
    if " ".join(text.split()) == "float or inf":
        return TypeSpec("float", allow_inf=True)
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip():
                return None
            break
        tokens.append(m.group(1))
        pos = m.end()

    def parse(i: int) -> tuple[TypeSpec | None, int]:
        if i >= len(tokens):
            return None, i
        name = tokens[i]
        args: list[TypeSpec | None] = []
        j = i + 1
        if j < len(tokens) and tokens[j] == "[":
            j += 1
            while True:
                spec, j = parse(j)
                args.append(spec)
                if j < len(tokens) and tokens[j] == ",":
                    j += 1
                    continue
                if j < len(tokens) and tokens[j] == "]":
                    j += 1
                    break
                return None, len(tokens)
        if name in _SCALARS and not args:
            return TypeSpec(_SCALARS[name]), j
        if name == "Optional" and len(args) == 1:
            return args[0], j
        if name in _CONTAINERS:
            kind = _CONTAINERS[name]
            if not args:
                return TypeSpec(kind), j
            if kind == "list" and len(args) == 1 and args[0] is not None:
                return TypeSpec("list", args[0]), j
            if kind == "dict" and len(args) == 2 and args[0] == TypeSpec("str") and args[1] is not None:
                return TypeSpec("dict", args[1]), j
        return None, len(tokens)

    spec, end = parse(0)
    return spec if end == len(tokens) else None


def check_type(name: str, value: Any, spec: TypeSpec | None) -> Any:
    """``value`` (already ``check_value``-d) if it has the declared type, else InvalidValue.

    None is always accepted (a None default means "the profile's value"); a float parameter
    accepts an int; bool is not an int.
    """
    spec = spec or ANY

    def walk(v: Any, s: TypeSpec, path: str) -> None:
        if v is None or s.kind == "any":
            return
        at = f"{name!r} item {path}" if path else repr(name)
        ok = {"int": type(v) is int, "float": type(v) in (int, float), "bool": type(v) is bool,
              "str": type(v) is str, "list": type(v) is list, "dict": type(v) is dict}[s.kind]
        if not ok:
            if s.kind == "float" and type(v) is str and v.strip().lower() in (*_INF_TEXT, "nan"):
                raise InvalidValue(f"parameter {at} expects a finite float, got {short_repr(v, REPR_LIMIT)}")
            hint = (" (a value that is not JSON is taken as a string)" if type(v) is str
                    and s.kind != "str" else "")
            raise InvalidValue(f"parameter {at} expects {s}, got {short_repr(v, REPR_LIMIT)} "
                               f"({type(v).__name__}){hint}")
        if type(v) is float and math.isinf(v) and not s.allow_inf:
            raise InvalidValue(f"parameter {at} expects a finite {s}, got {v!r}")
        if s.item is not None and s.kind == "list":
            for i, x in enumerate(v):
                walk(x, s.item, f"{path}[{i}]")
        elif s.item is not None and s.kind == "dict":
            for k, x in v.items():
                walk(x, s.item, f"{path}[{short_repr(k, 40)}]")

    walk(value, spec, "")
    return value


def coerce_cli_value(name: str, text: str, spec: TypeSpec | None) -> Any:
    """The value of ``-p name text`` for a parameter of type ``spec``: ``parse_value`` then
    ``check_type``.  For a ``str`` parameter, text that reads as a number or a boolean stays
    the text (``-p results_dir 2024`` is the folder "2024")."""
    allow_inf = bool(spec and spec.allow_inf)
    value = parse_value(text, f"parameter {name!r}", allow_inf=allow_inf)
    if spec is not None and spec.kind == "str" and type(value) in (int, float, bool):
        value = text
    return check_type(name, value, spec)


# ----------------------------------------------------------------------------------------------
# Rendering: Python literals, proved to round-trip
# ----------------------------------------------------------------------------------------------

def _str_literal(text: str) -> str:
    """A double-quoted literal (the notebooks' style) when JSON's escaping reads back exactly in
    Python, else ``repr`` (always a valid, escaped literal)."""
    quoted = json.dumps(text, ensure_ascii=False)
    try:
        if ast.literal_eval(quoted) == text:
            return quoted
    except (ValueError, SyntaxError):
        pass
    return repr(text)


def python_literal(value: Any) -> str:
    """Python source of a ``check_value``-d value that ``ast.literal_eval`` reads back equal.

    str double-quoted (JSON escapes, kept only if they read back exactly; else ``repr``), floats via ``repr`` (shortest
    round-trip; +-inf as ``1e999``/``-1e999``), lists and dicts element by element.
    """
    t = type(value)
    if t is str:
        return _str_literal(value)
    if value is None or t is bool or t is int:
        return repr(value)
    if t is float:
        if math.isnan(value):
            raise InvalidValue("NaN has no Python literal")
        if math.isinf(value):
            return "1e999" if value > 0 else "-1e999"
        return repr(value)
    if t is list:
        return "[" + ", ".join(python_literal(x) for x in value) + "]"
    if t is dict:
        return "{" + ", ".join(f"{k!r}: {python_literal(x)}" for k, x in value.items()) + "}"
    raise InvalidValue(f"no literal for {short_repr(value, REPR_LIMIT)} ({t.__name__})")


def _same(a: Any, b: Any) -> bool:
    """Equal with equal types all the way down (True is not 1, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def render_assignments(parameters: Mapping[str, Any], comment: str = "Parameters") -> str:
    """The source of an injected parameters cell: ``# comment`` then ``name = literal`` lines.

    Every name must be an identifier (not a keyword) and every value ``check_value``-d.  The
    cell is then parsed back: it must be exactly one assignment of a constant literal per
    parameter, each ``ast.literal_eval``-ing to its value, so the kernel can run nothing else.
    """
    lines = [f"# {comment}"]
    for name, value in parameters.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise InvalidValue(f"parameter names must be Python identifiers, got {short_repr(name, REPR_LIMIT)}")
        lines.append(f"{name} = {python_literal(check_value(value, f'parameter {name!r}', allow_inf=True))}")
    source = "\n".join(lines) + "\n"
    tree = ast.parse(source)
    if len(tree.body) != len(parameters):
        raise InvalidValue("the injected parameters cell does not parse back to one assignment per parameter")
    for stmt, (name, value) in zip(tree.body, parameters.items()):
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name):
            raise InvalidValue(f"the injected line of parameter {name!r} is not a plain assignment")
        if not _same(ast.literal_eval(stmt.value), value):
            raise InvalidValue(f"parameter {name!r}: its literal does not read back equal to the value")
    return source
