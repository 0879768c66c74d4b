"""ddlib.values: parameter values are data.  Property-based (Hypothesis): whatever the input —
JSON, YAML tags, huge numbers, deep nesting, long strings, code with quotes, newlines and
backslashes, non-JSON Python objects — the only exception that escapes is InvalidValue (a
ValueError), and every accepted value renders into a parameters cell that is nothing but
assignments of literals reading back (``ast.literal_eval``) to the same value.

Fast by default (100 examples per property, ~3 s); ``HYPOTHESIS_PROFILE=ci`` runs 500 and
``HYPOTHESIS_PROFILE=thorough`` 2,000 (~30 s)."""
from __future__ import annotations

import ast
import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddlib.values import (INT_BOUND, MAX_DEPTH, MAX_ITEMS, MAX_VALUE_BYTES, REPR_LIMIT, InvalidValue, TypeSpec,
                          check_type, check_value, coerce_cli_value, parse_annotation, parse_value, python_literal,
                          render_assignments, short_repr)

settings.register_profile("ddlib-fast", max_examples=100, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=500, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
_WANTED = os.environ.get("HYPOTHESIS_PROFILE", "")
PROFILE = settings.get_profile(_WANTED if _WANTED in ("ci", "thorough") else "ddlib-fast")

# ---------------------------------------------------------------------------------- strategies
CODE_SNIPPETS = [
    "\"]; open('/tmp/ddlib-pwned', 'w'); y = [\"",
    "'; import os; os.system('touch /tmp/ddlib-pwned'); '",
    "\\", "\\\"", "\"\"\"", "'''", "\n", "\r\n", "\\n", "$(touch /tmp/ddlib-pwned)", "`id`", "#", "{", "}",
    "\x00", "\u2028", "\U0001F600", "__import__('os')", "!!python/object/apply:os.system ['id']",
]
YAML_TAGGED = [
    "!!pairs [{'\"]; open(\"/tmp/x\", \"w\"); y = [\"': 1}]", "!!omap [{a: 1}]", "!!binary aGVsbG8=",
    "!!python/object:os.system ['id']", "!!python/tuple [1, 2]", "!!set {a, b}", "&a [*a]", "off", "yes",
    "2024-01-01", ".inf", "-.inf", ".nan",
]
NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e-400", "9" * 30, "-" + "9" * 30, "9" * 5000,
           "0x10", "1_000", "1.", ".5", "-0", "-0.0", "1E5", "9223372036854775807", "9223372036854775808",
           "-9223372036854775808"]

code_text = st.lists(st.sampled_from(CODE_SNIPPETS) | st.text(max_size=8), max_size=6).map("".join)
texts = (st.text(max_size=60) | code_text | st.sampled_from(YAML_TAGGED + NUMBERS)
         | st.integers(1, 40).map(lambda n: "[" * n + "1" + "]" * n)
         | st.integers(1, 40).map(lambda n: '{"a": ' * n + "1" + "}" * n)
         | st.integers(0, 3).map(lambda k: "x" * (MAX_VALUE_BYTES - 2 + k))
         | st.integers(MAX_ITEMS - 2, MAX_ITEMS + 2).map(lambda n: "[" + ",".join(["0"] * n) + "]"))

json_scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30) | code_text)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=10) | code_text, inner, max_size=5), max_leaves=30)


class _Evil:
    def __repr__(self) -> str:
        return "__import__('os').system('touch /tmp/ddlib-pwned')"


non_json = (st.tuples(json_scalars, json_scalars) | st.binary(max_size=10) | st.frozensets(st.integers(), max_size=3)
            | st.complex_numbers(max_magnitude=10) | st.just(_Evil()) | st.just(object())
            | st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=3))
anything = st.recursive(json_scalars | non_json, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4), max_leaves=20)
type_specs = st.recursive(st.sampled_from([TypeSpec(k) for k in ("any", "int", "float", "bool", "str", "list", "dict")]
                                          + [TypeSpec("float", allow_inf=True)]),
                          lambda inner: st.builds(TypeSpec, st.sampled_from(["list", "dict"]), inner), max_leaves=4)


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def _assert_renders_as_literals(name: str, value) -> None:
    """The injected cell is exactly `name = <literal>` and reads back to ``value``."""
    cell = render_assignments({name: value})
    tree = ast.parse(cell)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)
    allowed = (ast.Constant, ast.List, ast.Dict, ast.UnaryOp, ast.USub, ast.Load)
    assert all(isinstance(node, allowed) for node in ast.walk(tree.body[0].value)), cell
    assert _same(ast.literal_eval(tree.body[0].value), value)


# ---------------------------------------------------------------------------------- properties
@settings(PROFILE)
@given(texts)
def test_parse_value_returns_data_or_raises_invalid_value_only(text):
    try:
        value = parse_value(text)
    except InvalidValue as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1000  # one short line
        return
    assert _same(check_value(value), value)
    _assert_renders_as_literals("p", value)
    if isinstance(value, float):
        assert math.isfinite(value)


@settings(PROFILE)
@given(json_values)
def test_json_values_are_accepted_within_bounds_and_read_back_equal(value):
    if not _within_bounds(value):  # out of bounds: refused, with one short line
        with pytest.raises(InvalidValue) as info:
            check_value(value)
        assert "\n" not in str(info.value) and len(str(info.value)) < 1000
        return
    checked = check_value(value)
    assert _same(checked, value)
    _assert_renders_as_literals("p", checked)


def _within_bounds(value) -> bool:
    """What ``check_value`` promises to accept, restated independently: finite floats, integers in
    [-2**63, 2**63), and a JSON encoding of at most MAX_VALUE_BYTES (the strategy stays far from
    the depth and element limits)."""
    def ok(v) -> bool:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return True
        if isinstance(v, int):
            return -INT_BOUND <= v < INT_BOUND
        if isinstance(v, float):
            return math.isfinite(v)
        return all(ok(x) for x in (v.values() if isinstance(v, dict) else v))

    return ok(value) and len(json.dumps(value, ensure_ascii=False).encode("utf-8")) <= MAX_VALUE_BYTES


@settings(PROFILE)
@given(anything)
def test_non_json_objects_raise_invalid_value_only(value):
    try:
        checked = check_value(value)
    except InvalidValue as exc:
        assert len(str(exc)) < 1000
        return
    _assert_renders_as_literals("p", checked)


@settings(PROFILE)
@given(texts, type_specs)
def test_command_line_values_meet_their_declared_type_or_are_refused(text, spec):
    try:
        value = coerce_cli_value("p", text, spec)
    except InvalidValue:
        return
    assert _same(check_type("p", value, spec), value)
    _assert_renders_as_literals("p", value)


@settings(PROFILE)
@given(st.text(max_size=40) | st.sampled_from(["int", "list[list[int]]", "dict[str, float]", "Optional[str]",
                                               "list[", "dict[int, str]", "float or inf", "List[Dict]"]))
def test_parse_annotation_never_raises(text):
    spec = parse_annotation(text)
    assert spec is None or isinstance(spec, TypeSpec)


@settings(PROFILE)
@given(anything)
def test_short_repr_is_bounded(value):
    assert len(short_repr(value)) <= REPR_LIMIT and "\n" not in short_repr(value)


# ---------------------------------------------------------------------------------- examples
@pytest.mark.parametrize("text, value", [("5", 5), ("-3", -3), ("0.5", 0.5), ("1e-3", 1e-3), ("true", True),
                                         ("null", None), ("None", "None"), ("off", "off"), ("he2", "he2"),
                                         ("[2, 4]", [2, 4]), ('{"a": [1, 2.5]}', {"a": [1, 2.5]}),
                                         ('"5"', "5"), ("$(rm -rf ~)", "$(rm -rf ~)"),
                                         ("!!pairs [{'\"]; open(\"/tmp/x\", \"w\"); y = [\"': 1}]",
                                          "!!pairs [{'\"]; open(\"/tmp/x\", \"w\"); y = [\"': 1}]")])
def test_parse_value_reads_json_else_the_literal_string(text, value):
    assert _same(parse_value(text), value)


@pytest.mark.parametrize("text, match", [
    ("1e400", "finite.*1e400"), ("NaN", "finite"), ("-Infinity", "finite"), ("9" * 30, r"2\*\*63"),
    ("9" * 5000, r"2\*\*63"), ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than"),
    ("[" + ",".join(["0"] * (MAX_ITEMS + 1)) + "]", "elements"), ("x" * (MAX_VALUE_BYTES + 1), "bytes"),
    ('{"a": 1, "a": 2}', "twice"),
])
def test_parse_value_refuses_with_one_line_naming_the_problem(text, match):
    with pytest.raises(InvalidValue, match=match) as info:
        parse_value(text)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_check_type_follows_the_annotation_and_always_accepts_none():
    assert check_type("d", None, parse_annotation("int")) is None
    assert check_type("x", 3, parse_annotation("float")) == 3
    assert check_type("g", [[32, 2]], parse_annotation("list[list[int]]")) == [[32, 2]]
    for name, value, annotation in [("d", True, "int"), ("d", 1.5, "int"), ("b", 1, "bool"), ("s", 5, "str"),
                                    ("g", [[32, 2.5]], "list[list[int]]"), ("m", {"a": "x"}, "dict[str, int]")]:
        with pytest.raises(InvalidValue, match=f"parameter '{name}.*expects"):
            check_type(name, value, parse_annotation(annotation))


def test_str_parameters_keep_number_looking_text_and_others_refuse_strings():
    assert coerce_cli_value("results_dir", "2024", parse_annotation("str")) == "2024"
    assert coerce_cli_value("link", "off", parse_annotation("str")) == "off"
    with pytest.raises(InvalidValue, match=r"parameter 'flag' expects bool, got 'off' \(str\)"):
        coerce_cli_value("flag", "off", parse_annotation("bool"))


def test_infinity_only_where_the_parameter_allows_it():
    spec = parse_annotation("float or inf")
    assert coerce_cli_value("t", "inf", spec) == math.inf and coerce_cli_value("t", "-1e400", spec) == -math.inf
    assert python_literal(math.inf) == "1e999" and ast.literal_eval(python_literal(-math.inf)) == -math.inf
    with pytest.raises(InvalidValue, match="finite"):
        coerce_cli_value("t", "inf", parse_annotation("float"))
    with pytest.raises(InvalidValue, match="finite"):
        coerce_cli_value("t", "NaN", spec)


def test_render_assignments_refuses_names_that_are_not_identifiers():
    for name in ["a b", "import", "x=1;y", ""]:
        with pytest.raises(InvalidValue, match="identifiers"):
            render_assignments({name: 1})


def test_integers_are_bounded_to_64_bits():
    assert check_value(INT_BOUND - 1) == INT_BOUND - 1
    with pytest.raises(InvalidValue):
        check_value(INT_BOUND)


@pytest.mark.parametrize("value", ["he2", "2024", "true", "null", " padded ", "it's", "$(rm -rf ~)", "", 5, -3, 0.05,
                                   1e-12, True, None, [2000, 8000], ["aniso", "quad"], [[32, 2], [64, 2]],
                                   {"a": [1, "b"]}])
def test_cli_text_is_what_parse_value_reads_back_and_cli_arg_one_shell_word(value):
    import shlex

    from ddlib.values import cli_arg, cli_text

    assert parse_value(cli_text(value)) == value and type(parse_value(cli_text(value))) is type(value)
    assert shlex.split(cli_arg(value)) == [cli_text(value)]
    assert "'" not in cli_text(["aniso", "quad"])  # JSON, not Python's repr


@given(json_values)
def test_every_accepted_value_pastes_back_through_a_shell_as_itself(value):
    """What a page shows after ``-p NAME`` (``cli_arg``) is, once bash splits it, what ``parse_value``
    reads back as the very value (shell word splitting as shlex does it)."""
    import shlex

    from ddlib.values import cli_arg, cli_text

    if not _within_bounds(value):
        return
    value = check_value(value)
    [word] = shlex.split(cli_arg(value))
    assert word == cli_text(value) and _same(parse_value(word), value)
