"""Expression evaluation with Terraform's semantics, including unknown and sensitive values.

``evaluate(expr, ctx)`` returns a value (see ``lang.values``). User mistakes raise
``DiagnosticError`` pointing at the sub-expression at fault.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshprov.diagnostics import DiagnosticError, SourceRange
from meshprov.lang import ast, numbers
from meshprov.lang.deep import retry_deeper
from meshprov.lang.functions import FUNCTIONS, FunctionError, call_function
from meshprov.lang.types import (
    ANY,
    BOOL,
    NUMBER,
    STRING,
    AnyType,
    ConversionError,
    ListType,
    MapType,
    ObjectType,
    Primitive,
    SetType,
    TupleType,
    Type,
    can_convert,
    convert,
    friendly_name,
    infer_type,
    parse_type,
    to_bool,
    to_number,
    to_string,
    type_of_unknown,
    unknown_of,
)
from meshprov.lang.values import (
    MAX_VALUE_DEPTH,
    TYPED_MADE,
    UNKNOWN,
    HclSet,
    Refinement,
    ResourceValue,
    Sensitive,
    Unknown,
    declared_type,
    deeper_than,
    has_unknown,
    is_number,
    mark,
    safe_known_prefix,
    sort_key,
    type_name,
    unmark,
    unmark_deep,
    untyped,
    values_equal,
)


@dataclass(frozen=True)
class EvalContext:
    """The names an expression can see, and the directory ``file()`` paths are relative to."""

    names: Mapping[str, Any]
    base_dir: Path = field(default_factory=Path)

    def with_names(self, **extra: Any) -> EvalContext:
        return EvalContext({**self.names, **extra}, self.base_dir)


def evaluate(expr: ast.Expression, ctx: EvalContext) -> Any:
    """The value of ``expr``. Unknowns and nulls it makes leave untyped (``untyped``): their
    types and refinements serve evaluation only (typed values a caller puts in ``ctx`` are its
    own, and may come back as given)."""
    return retry_deeper(_eval_untyped, (expr, ctx), lambda: _too_deep(expr.range))


def _eval_untyped(expr: ast.Expression, ctx: EvalContext) -> Any:
    made = TYPED_MADE[0]
    value = _eval(expr, ctx)
    if type(value) in _CONTAINERS and deeper_than(value, MAX_VALUE_DEPTH):
        raise _fail(
            "Value nested too deeply",
            f"This expression makes a value that nests lists, sets or maps more than "
            f"{MAX_VALUE_DEPTH} levels deep, more than meshprov can store and show.",
            expr.range,
        )
    return value if TYPED_MADE[0] == made else untyped(value)


_CONTAINERS = (list, dict, HclSet, ResourceValue, Sensitive)


def _eval(expr: ast.Expression, ctx: EvalContext) -> Any:
    return _EVALUATORS[type(expr)](expr, ctx)


def _too_deep(rng: SourceRange) -> DiagnosticError:
    return _fail(
        "Expression nested too deeply",
        "This expression nests more deeply (or a template calls itself more often) than "
        "meshprov can evaluate.",
        rng,
    )


def _fail(summary: str, detail: str, rng: SourceRange) -> DiagnosticError:
    return DiagnosticError.single(summary, detail, rng)


# --- leaves and traversals ---------------------------------------------------------------


def _literal(expr: ast.Literal, ctx: EvalContext) -> Any:
    return expr.value


def _parens(expr: ast.Parens, ctx: EvalContext) -> Any:
    return _eval(expr.inner, ctx)


def _name(expr: ast.Name, ctx: EvalContext) -> Any:
    try:
        return ctx.names[expr.name]
    except KeyError:
        raise _fail(
            "Unknown variable", f'There is no variable named "{expr.name}".', expr.range
        ) from None


def _get_attr(expr: ast.GetAttr, ctx: EvalContext) -> Any:
    return get_attribute(_eval(expr.source, ctx), expr.name, expr.range)


def get_attribute(value: Any, name: str, rng: SourceRange) -> Any:
    raw, sensitive = unmark(value)
    if isinstance(raw, Unknown):
        return mark(unknown_of(_attribute_type(type_of_unknown(raw), name, rng)), sensitive)
    if raw is None:
        raise _fail(
            "Attempt to get attribute from null value",
            f'This value is null, so it does not have any attributes ("{name}").',
            rng,
        )
    if isinstance(raw, dict):
        if name not in raw:
            raise _fail(
                "Unsupported attribute",
                f'This object does not have an attribute named "{name}".',
                rng,
            )
        return mark(raw[name], sensitive)
    raise _no_attributes(infer_type(raw), name, rng)


def _attribute_type(t: Type, name: str, rng: SourceRange) -> Type:
    """The type of attribute ``name`` of an unknown value of type ``t``."""
    if isinstance(t, AnyType):
        return ANY
    if isinstance(t, MapType):
        return t.elem
    attr = t.attr(name) if isinstance(t, ObjectType) else None
    if attr is None:
        raise _no_attributes(t, name, rng)
    return attr.type


def _no_attributes(t: Type, name: str, rng: SourceRange) -> DiagnosticError:
    if isinstance(t, ObjectType):
        return _fail(
            "Unsupported attribute",
            f'This object does not have an attribute named "{name}".',
            rng,
        )
    if isinstance(t, ListType | SetType | TupleType):
        return _fail(
            "Unsupported attribute",
            "Can't access attributes on a list of objects. Did you mean to access attribute "
            f'"{name}" '
            "for a specific element of the list, or across all elements of the list (with [*])?",
            rng,
        )
    return _fail(
        "Unsupported attribute",
        f"Can't access attributes on a primitive-typed value ({friendly_name(t)}).",
        rng,
    )


def _index(expr: ast.Index, ctx: EvalContext) -> Any:
    return index_value(_eval(expr.source, ctx), _eval(expr.key, ctx), expr.range)


def index_value(value: Any, key: Any, rng: SourceRange) -> Any:
    raw, sensitive = unmark(value)
    key_raw, key_sensitive = unmark(key)
    sensitive = sensitive or key_sensitive
    if isinstance(raw, Unknown):
        return mark(unknown_of(_element_type(type_of_unknown(raw), key_raw, rng)), sensitive)
    if isinstance(key_raw, Unknown):
        return mark(UNKNOWN, sensitive)
    if raw is None:
        raise _fail(
            "Attempt to index null value", "This value is null, so it cannot be indexed.", rng
        )
    if key_raw is None:
        raise _fail("Invalid index", "Can't use a null value as an indexing key.", rng)
    if isinstance(raw, HclSet):
        raise _fail(
            "Invalid index",
            "Elements of a set are identified only by their value and don't have any separate "
            "index or key to select with, so it's only possible to perform operations across "
            "all elements of the set.",
            rng,
        )
    if isinstance(raw, list):
        try:
            number = to_number(key_raw)
        except ConversionError:
            raise _fail(
                "Invalid index",
                "The given key does not identify an element in this "
                "collection value: a number is required.",
                rng,
            ) from None
        if not isinstance(number, int) or not 0 <= number < len(raw):
            raise _fail(
                "Invalid index",
                f"The given key does not identify an element in this collection value: the "
                f"collection has {len(raw)} element(s).",
                rng,
            )
        return mark(raw[number], sensitive)
    if isinstance(raw, dict):
        try:
            skey = to_string(key_raw)
        except ConversionError:
            raise _fail("Invalid index", "A string key is required to index a map.", rng) from None
        if skey not in raw:
            raise _fail(
                "Invalid index",
                "The given key does not identify an element in this collection value: "
                f'no key "{skey}".',
                rng,
            )
        return mark(raw[skey], sensitive)
    raise _no_indices(type_name(raw), rng)


def _element_type(t: Type, key: Any, rng: SourceRange) -> Type:
    """The type of element ``key`` (maybe unknown) of an unknown value of type ``t``."""
    if isinstance(t, ListType | MapType):
        return t.elem
    if isinstance(t, Primitive):
        raise _no_indices(t.name, rng)
    attr = t.attr(key) if isinstance(t, ObjectType) and isinstance(key, str) else None
    if attr is not None:
        return attr.type
    if isinstance(t, TupleType) and is_number(key) and 0 <= key < len(t.elems):
        return t.elems[int(key)]
    return ANY


def _no_indices(noun: str, rng: SourceRange) -> DiagnosticError:
    return _fail("Invalid index", f"This value does not have any indices ({noun}).", rng)


def _splat(expr: ast.Splat, ctx: EvalContext) -> Any:
    return _splat_over(_eval(expr.source, ctx), expr.steps, expr, ctx)


def _splat_over(
    source: Any, steps: tuple[ast.SplatStep, ...], expr: ast.Splat, ctx: EvalContext
) -> Any:
    """HCL's splat: over a list, tuple or set, the steps apply to each element; any other value
    counts as a one-element tuple (none, when null)."""
    raw, sensitive = unmark(source)
    if isinstance(raw, Unknown):
        return mark(_splat_unknown(raw, source, steps, expr, ctx), sensitive)
    if raw is None:
        if isinstance(declared_type(source), ListType | SetType | TupleType):
            raise _fail(
                "Splat of null value",
                "Splat expressions (with the * symbol) cannot be applied to null sequences.",
                expr.source.range,
            )
        return mark([], sensitive)  # any other null is an empty tuple
    items = list(raw) if isinstance(raw, list | HclSet) else [source]  # keeps the value's mark
    return mark([_splat_steps(item, steps, expr, ctx) for item in items], sensitive)


def _splat_steps(
    item: Any, steps: tuple[ast.SplatStep, ...], expr: ast.Splat, ctx: EvalContext
) -> Any:
    for i, step in enumerate(steps):
        if step.name is None and step.key is None:
            return _splat_over(item, steps[i + 1 :], expr, ctx)
        if step.name is not None:
            item = get_attribute(item, step.name, expr.range)
        elif step.key is not None:
            item = index_value(item, _eval(step.key, ctx), expr.range)
    return item


def _splat_unknown(
    raw: Unknown, source: Any, steps: tuple[ast.SplatStep, ...], expr: ast.Splat, ctx: EvalContext
) -> Any:
    """A splat over an unknown: the steps still run on an unknown element of its type, so a
    wrong attribute is an error now; a value that is not null and not a sequence is known to
    give a one-element tuple."""
    t = type_of_unknown(raw)
    if isinstance(t, AnyType):
        return UNKNOWN
    if isinstance(t, ListType | SetType):
        element = _splat_steps(unknown_of(t.elem), steps, expr, ctx)
        return unknown_of(ListType(infer_type(element)), Refinement(not_null=True))
    if isinstance(t, TupleType):
        elements = [_splat_steps(unknown_of(e), steps, expr, ctx) for e in t.elems]
        return unknown_of(infer_type(elements), Refinement(not_null=True))
    element = _splat_steps(source, steps, expr, ctx)  # the one element keeps its mark
    return [element] if raw.refinement.not_null else UNKNOWN


# --- collections -------------------------------------------------------------------------


def _tuple(expr: ast.TupleExpr, ctx: EvalContext) -> Any:
    return [_eval(item, ctx) for item in expr.items]


def _object(expr: ast.ObjectExpr, ctx: EvalContext) -> Any:
    out: dict[str, Any] = {}
    unknown_key = False
    sensitive_key = False
    for item in expr.items:
        key, s = unmark(_eval(item.key, ctx))
        sensitive_key = sensitive_key or s
        if isinstance(key, Unknown):
            unknown_key = True
            continue
        skey = _object_key(key, item.key.range)
        if skey in out:
            raise _fail(
                "Duplicate object attribute",
                f'An attribute named "{skey}" was already defined in this object.',
                item.key.range,
            )
        out[skey] = _eval(item.value, ctx)
    if unknown_key:
        return mark(UNKNOWN, sensitive_key)
    return mark(out, sensitive_key)


def _not_iterable(noun: str, expr: ast.ForExpr) -> DiagnosticError:
    return _fail(
        "Iteration over non-iterable value",
        f"A value of type {noun} cannot be used as the collection in a 'for' expression.",
        expr.collection.range,
    )


def _object_key(key: Any, rng: SourceRange) -> str:
    if key is None:
        raise _fail("Invalid object key", "Object keys cannot be null.", rng)
    try:
        return to_string(key)
    except ConversionError:
        raise _fail(
            "Invalid object key", f"Object keys must be strings, not {type_name(key)}.", rng
        ) from None


def _for(expr: ast.ForExpr, ctx: EvalContext) -> Any:
    coll, sensitive = unmark(_eval(expr.collection, ctx))
    if isinstance(coll, Unknown):
        if isinstance(coll.type, Primitive):
            raise _not_iterable(coll.type.name, expr)
        return mark(UNKNOWN, sensitive)
    if isinstance(coll, dict):  # maps iterate in lexical key order, as in Terraform
        pairs = sorted(coll.items())
    elif isinstance(coll, HclSet):
        pairs = [(v, v) for v in coll]
    elif isinstance(coll, list):
        pairs = list(enumerate(coll))
    else:
        raise _not_iterable(type_name(coll), expr)
    tuple_out: list = []
    object_out: dict[str, Any] = {}
    for key, value in pairs:
        names = {expr.value_var: value}
        if expr.key_var is not None:
            names[expr.key_var] = key
        inner = ctx.with_names(**names)
        if expr.condition is not None:
            cond, s = unmark(_eval(expr.condition, inner))
            sensitive = sensitive or s
            if isinstance(cond, Unknown):
                if not can_convert(type_of_unknown(cond), BOOL):
                    raise _fail(
                        "Invalid 'for' condition",
                        f"A bool value is required, not {friendly_name(type_of_unknown(cond))}.",
                        expr.condition.range,
                    )
                return mark(UNKNOWN, sensitive)
            if not _as_bool(cond, expr.condition.range, "Invalid 'for' condition"):
                continue
        if expr.key_expr is None:
            tuple_out.append(_eval(expr.value_expr, inner))
            continue
        k, s = unmark(_eval(expr.key_expr, inner))
        sensitive = sensitive or s
        if isinstance(k, Unknown):
            return mark(UNKNOWN, sensitive)
        skey = _object_key(k, expr.key_expr.range)
        v = _eval(expr.value_expr, inner)
        if expr.grouping:
            object_out.setdefault(skey, []).append(v)
        elif skey in object_out:
            raise _fail(
                "Duplicate object key",
                f"Two different items produced the key \"{skey}\" in this 'for' expression. If "
                "duplicates are expected, use the ellipsis (...) after the value expression to "
                "enable grouping by key.",
                expr.key_expr.range,
            )
        else:
            object_out[skey] = v
    return mark(tuple_out if expr.key_expr is None else object_out, sensitive)


# --- operators ---------------------------------------------------------------------------

_ARITH = {"+", "-", "*", "/", "%"}
_COMPARE = {"<", ">", "<=", ">="}


def _as_bool(value: Any, rng: SourceRange, summary: str) -> bool:
    try:
        return to_bool(value)
    except ConversionError:
        raise _fail(summary, f"A bool value is required, not {type_name(value)}.", rng) from None


def _as_number(value: Any, rng: SourceRange, op: str) -> numbers.Number:
    if value is None:
        raise _fail(
            "Invalid operand",
            f'Unsuitable value for the "{op}" operator: a number is required, not null.',
            rng,
        )
    try:
        return to_number(value)
    except ConversionError:
        raise _fail(
            "Invalid operand",
            f'Unsuitable value for the "{op}" operator: a number is required, not '
            f"{type_name(value)}.",
            rng,
        ) from None


def _binary(expr: ast.BinaryOp, ctx: EvalContext) -> Any:
    if expr.op in ("&&", "||"):
        return _logical(expr, ctx)
    left, ls = unmark(_eval(expr.left, ctx))
    right, rs = unmark(_eval(expr.right, ctx))
    sensitive = ls or rs
    op = expr.op
    if op in ("==", "!="):
        if has_unknown(left) or has_unknown(right):
            return mark(UNKNOWN, sensitive)
        equal = values_equal(left, right)
        return mark(equal if op == "==" else not equal, sensitive)
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        if op in _COMPARE:  # a refined number range may already decide a comparison
            decided = _compare_ranges(op, _number_range(left), _number_range(right))
            if decided is not None:
                return mark(decided, sensitive)
        # still type-check the known side so mistakes surface before apply
        if op in ("&&", "||"):
            for side, rng in ((left, expr.left.range), (right, expr.right.range)):
                if not isinstance(side, Unknown):
                    _as_bool(side, rng, "Invalid operand")
        else:
            for side, rng in ((left, expr.left.range), (right, expr.right.range)):
                if not isinstance(side, Unknown):
                    _as_number(side, rng, op)
        return mark(UNKNOWN, sensitive)
    if op in ("&&", "||"):
        lb = _as_bool(left, expr.left.range, "Invalid operand")
        rb = _as_bool(right, expr.right.range, "Invalid operand")
        return mark(lb and rb if op == "&&" else lb or rb, sensitive)
    a = _as_number(left, expr.left.range, op)
    b = _as_number(right, expr.right.range, op)
    if op in _COMPARE:
        result = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return mark(result, sensitive)
    try:
        return mark(_ARITHMETIC[op](a, b), sensitive)
    except numbers.NumberError as exc:
        raise _fail("Operation failed", f"Error during operation: {exc}.", expr.range) from None


# cty's arithmetic: 512-bit results, x/0 is infinite, x%0 is x
_ARITHMETIC = {
    "+": numbers.add,
    "-": numbers.subtract,
    "*": numbers.multiply,
    "/": numbers.divide,
    "%": numbers.modulo,
}


# a number's possible values: (lower, inclusive), (upper, inclusive); None where unbounded
_Range = tuple[tuple[Any, bool] | None, tuple[Any, bool] | None]


def _number_range(value: Any) -> _Range:
    if isinstance(value, Unknown):
        return value.refinement.lower, value.refinement.upper
    try:
        number = to_number(value)
    except ConversionError:
        return None, None  # the operand check reports it
    return (number, True), (number, True)


def _compare_ranges(op: str, left: _Range, right: _Range) -> bool | None:
    """A comparison that holds (True) or fails (False) for every value in the ranges; None
    when the values decide it."""

    def less(x: _Range, y: _Range) -> bool:  # every x < every y
        high, low = x[1], y[0]
        if high is None or low is None:
            return False
        return high[0] < low[0] or (high[0] == low[0] and not (high[1] and low[1]))

    def at_least(x: _Range, y: _Range) -> bool:  # every x >= every y
        low, high = x[0], y[1]
        return low is not None and high is not None and low[0] >= high[0]

    a, b = (left, right) if op in ("<", ">=") else (right, left)
    holds, fails = less(a, b), at_least(a, b)
    if op in ("<=", ">="):  # the negations: x <= y is not (y < x), x >= y is not (x < y)
        holds, fails = fails, holds
    return True if holds else False if fails else None


def _operand(side: ast.Expression, ctx: EvalContext) -> tuple[Any, bool, DiagnosticError | None]:
    """A logical operand: (bool, None or UNKNOWN; sensitive; its error, if evaluating failed)."""
    try:
        value, sensitive = unmark(_eval(side, ctx))
    except DiagnosticError as exc:
        return UNKNOWN, False, exc
    if isinstance(value, Unknown) or value is None:
        return value, sensitive, None
    return _as_bool(value, side.range, "Invalid operand"), sensitive, None


def _logical(expr: ast.BinaryOp, ctx: EvalContext) -> Any:
    """``&&`` and ``||`` as current HCL: one side can decide the result, and then the other
    side's errors do not matter (``obj != null && obj.flag`` is false for a null ``obj``)."""
    left, ls, left_err = _operand(expr.left, ctx)
    right, rs, right_err = _operand(expr.right, ctx)
    sensitive = ls or rs
    decisive = expr.op == "||"  # the value one side needs to decide: true for ||, false for &&
    l_unknown, r_unknown = isinstance(left, Unknown), isinstance(right, Unknown)
    if l_unknown and r_unknown:
        if left_err is None:
            return mark(UNKNOWN, sensitive)
        raise left_err
    if not l_unknown and left is decisive:
        return mark(decisive, sensitive)
    if not r_unknown and right is decisive:
        return mark(decisive, sensitive)
    if l_unknown and right is (not decisive):
        if left_err is not None:
            raise left_err
        return mark(UNKNOWN, sensitive)
    if r_unknown and left is (not decisive):
        if right_err is not None:
            raise right_err
        return mark(UNKNOWN, sensitive)
    for error, value, side in ((left_err, left, expr.left), (right_err, right, expr.right)):
        if error is not None:
            raise error
        if value is None:
            raise _fail(
                "Invalid operand",
                f'Unsuitable value for the "{expr.op}" operator: a bool is required, not null.',
                side.range,
            )
    return mark(left and right if expr.op == "&&" else left or right, sensitive)


def _either(expr: ast.Conditional, ctx: EvalContext, sensitive: bool) -> Any:
    """An unknown condition: both results are evaluated (their errors count, as in HCL). If
    they are the same known value, that is the result; otherwise it is unknown (between the
    two, when both are numbers), and marked sensitive when either result holds anything
    sensitive, so no mark is lost."""
    first = _eval(expr.true_result, ctx)
    second = _eval(expr.false_result, ctx)
    raw_first, s1 = unmark_deep(first)
    raw_second, s2 = unmark_deep(second)
    if not has_unknown(first) and not has_unknown(second) and values_equal(first, second):
        return mark(raw_first, True) if s1 or s2 or sensitive else first
    return mark(_either_unknown(raw_first, raw_second), sensitive or s1 or s2)


def _either_unknown(first: Any, second: Any) -> Any:
    """One of two values, not known which: for two numbers, a number in their range."""
    if not (_number_typed(first) and _number_typed(second)):
        return UNKNOWN
    (low1, high1), (low2, high2) = _number_range(first), _number_range(second)
    lower = upper = None
    if low1 is not None and low2 is not None:  # at one value, inclusive if either is
        lower = min(low1, low2, key=lambda bound: (bound[0], not bound[1]))
    if high1 is not None and high2 is not None:
        upper = max(high1, high2, key=lambda bound: (bound[0], bound[1]))
    not_null = all(not isinstance(v, Unknown) or v.refinement.not_null for v in (first, second))
    return unknown_of(NUMBER, Refinement(not_null=not_null, lower=lower, upper=upper))


def _number_typed(value: Any) -> bool:
    return value.type == NUMBER if isinstance(value, Unknown) else is_number(value)


def _unary(expr: ast.UnaryOp, ctx: EvalContext) -> Any:
    value, sensitive = unmark(_eval(expr.operand, ctx))
    if isinstance(value, Unknown):
        return mark(UNKNOWN, sensitive)
    if expr.op == "!":
        return mark(not _as_bool(value, expr.operand.range, "Invalid operand"), sensitive)
    return mark(numbers.negate(_as_number(value, expr.operand.range, "-")), sensitive)


def _conditional(expr: ast.Conditional, ctx: EvalContext) -> Any:
    cond, sensitive = unmark(_eval(expr.condition, ctx))
    if isinstance(cond, Unknown):
        return _either(expr, ctx, sensitive)
    if cond is None:
        raise _fail(
            "Null condition",
            "The condition value is null. Conditions must either be true or false.",
            expr.condition.range,
        )
    chosen = (
        expr.true_result
        if _as_bool(cond, expr.condition.range, "Incorrect condition type")
        else expr.false_result
    )
    return mark(_eval(chosen, ctx), sensitive)


# --- function calls ----------------------------------------------------------------------


def _call(expr: ast.FunctionCall, ctx: EvalContext) -> Any:
    name = expr.name.removeprefix("core::")  # Terraform's namespace for the built-ins
    if name in ("try", "can"):
        return _try_or_can(expr, ctx)
    if name == "convert":
        return _convert(expr, ctx)
    if name.startswith("provider::"):
        raise _fail(
            "Call to unknown function",
            f'There is no function named "{expr.name}": meshprov\'s providers do not offer '
            "functions.",
            expr.range,
        )
    if name not in FUNCTIONS:
        from difflib import get_close_matches

        hint = get_close_matches(name, [*FUNCTIONS, "try", "can", "convert"], n=1)
        detail = f'There is no function named "{expr.name}".'
        if hint:
            detail += f' Did you mean "{hint[0]}"?'
        raise _fail("Call to unknown function", detail, expr.range)
    args = [_eval(a, ctx) for a in expr.args]
    if expr.expand_final and args:
        last, sensitive = unmark(args.pop())
        if isinstance(last, Unknown):
            return mark(UNKNOWN, sensitive)
        if not isinstance(last, list | HclSet):
            raise _fail(
                "Invalid expanding argument value",
                "The expanding argument (indicated by ...) must be of a tuple, list, or set type.",
                expr.args[-1].range,
            )
        args.extend(mark(v, sensitive) for v in last)
    try:
        return call_function(name, args, ctx.base_dir, render_template=_render_template)
    except FunctionError as exc:
        raise _fail(exc.summary, str(exc), expr.range) from None


def _try_or_can(expr: ast.FunctionCall, ctx: EvalContext) -> Any:
    if expr.name.removeprefix("core::") == "can":
        if len(expr.args) != 1:
            raise _fail(
                "Not enough function arguments" if not expr.args else "Too many function arguments",
                'Function "can" expects exactly one argument.',
                expr.range,
            )
        try:
            value = _eval(expr.args[0], ctx)
        except DiagnosticError:
            return False
        return UNKNOWN if has_unknown(value) else True
    if not expr.args:
        raise _fail(
            "Not enough function arguments",
            'Function "try" expects at least one argument.',
            expr.range,
        )
    errors = []
    for arg in expr.args:
        try:
            value = _eval(arg, ctx)
        except DiagnosticError as exc:
            errors.append(exc)
            continue
        return UNKNOWN if has_unknown(value) else value
    raise _fail(
        "Error in function call",
        'Call to function "try" failed: no expression succeeded:\n'
        + "\n".join(f"- {e.diagnostics[0].summary}: {e.diagnostics[0].detail}" for e in errors),
        expr.range,
    )


def _convert(expr: ast.FunctionCall, ctx: EvalContext) -> Any:
    """Terraform's ``convert(value, type)``: its second argument is a type constraint (with
    ``optional()`` defaults), read as a variable's ``type`` is, not evaluated."""
    if len(expr.args) != 2 or expr.expand_final:
        summary = "Not enough" if len(expr.args) < 2 else "Too many"
        raise _fail(
            f"{summary} function arguments",
            f'Function "convert" expects 2 argument(s), got {len(expr.args)}.',
            expr.range,
        )
    want = parse_type(expr.args[1])
    value = _eval(expr.args[0], ctx)
    try:
        return convert(value, want)
    except ConversionError as exc:
        raise _fail(
            "Invalid function argument", f'Invalid value for "value" parameter: {exc}.', expr.range
        ) from None


def _render_template(text: str, filename: str, variables: Mapping[str, Any]) -> Any:
    from meshprov.lang.parse import parse_template

    template = parse_template(text, filename)
    return _eval(template, EvalContext(dict(variables), Path(filename).parent))


# --- templates ---------------------------------------------------------------------------


def _template(expr: ast.Template, ctx: EvalContext) -> Any:
    parts = expr.parts
    if len(parts) == 1 and isinstance(parts[0], ast.TemplateInterp):
        return _eval(parts[0].expr, ctx)  # "${x}" is x itself, not its string form
    pieces: list[str] = []
    state: dict[str, Any] = {"unknown": False, "sensitive": False}
    _render_parts(parts, ctx, pieces, state)
    if state["unknown"]:  # a string whose beginning is known, as HCL refines it
        known = state["prefix"].encode()[:128].decode(errors="ignore")
        refinement = Refinement(not_null=True, prefix=safe_known_prefix(known))
        return mark(unknown_of(STRING, refinement), state["sensitive"])
    return mark("".join(pieces), state["sensitive"])


def _render_parts(
    parts: tuple[ast.TemplatePart, ...], ctx: EvalContext, out: list[str], state: dict
) -> None:
    for part in parts:
        if isinstance(part, ast.TemplateText):
            out.append(part.text)
        elif isinstance(part, ast.TemplateInterp):
            value, s = unmark(_eval(part.expr, ctx))
            state["sensitive"] |= s
            if isinstance(value, Unknown):
                _now_unknown(state, out)
                continue
            out.append(_template_string(value, part.expr.range))
        elif isinstance(part, ast.TemplateIf):
            cond, s = unmark(_eval(part.condition, ctx))
            state["sensitive"] |= s
            if isinstance(cond, Unknown):
                _now_unknown(state, out)
                for branch in (part.then_parts, part.else_parts):
                    _render_parts(branch, ctx, [], state)
                continue
            taken = _as_bool(cond, part.condition.range, "Invalid template directive condition")
            _render_parts(part.then_parts if taken else part.else_parts, ctx, out, state)
            # HCL marks the result with what either branch holds: a sensitive value in the
            # branch not taken still marks it (its errors do not matter: it is not taken)
            untaken = {"unknown": False, "sensitive": False}
            with contextlib.suppress(DiagnosticError):
                _render_parts(part.else_parts if taken else part.then_parts, ctx, [], untaken)
            state["sensitive"] |= untaken["sensitive"]
        elif isinstance(part, ast.TemplateFor):
            coll, s = unmark(_eval(part.collection, ctx))
            state["sensitive"] |= s
            if isinstance(coll, Unknown):
                _now_unknown(state, out)
                continue
            if isinstance(coll, dict):
                pairs = sorted(coll.items(), key=lambda kv: sort_key(kv[0]))
            elif isinstance(coll, list | HclSet):
                pairs = list(enumerate(coll)) if isinstance(coll, list) else [(v, v) for v in coll]
            else:
                raise _fail(
                    "Invalid template for directive",
                    f"A {type_name(coll)} value cannot be iterated.",
                    part.collection.range,
                )
            for key, value in pairs:
                names = {part.value_var: value}
                if part.key_var is not None:
                    names[part.key_var] = key
                _render_parts(part.body, ctx.with_names(**names), out, state)


def _now_unknown(state: dict[str, Any], out: list[str]) -> None:
    """The template's result is unknown from here on; what it rendered so far is its prefix."""
    if not state["unknown"]:
        state["unknown"] = True
        state["prefix"] = "".join(out)


def _template_string(value: Any, rng: SourceRange) -> str:
    if value is None:
        raise _fail(
            "Invalid template interpolation value",
            "The expression result is null. Cannot include a null value in a string template.",
            rng,
        )
    try:
        return to_string(value)
    except ConversionError:
        raise _fail(
            "Invalid template interpolation value",
            f"Cannot include the given value in a string template: string required, not "
            f"{type_name(value)}.",
            rng,
        ) from None


_EVALUATORS: dict[type, Callable[[Any, EvalContext], Any]] = {
    ast.Literal: _literal,
    ast.Parens: _parens,
    ast.Name: _name,
    ast.GetAttr: _get_attr,
    ast.Index: _index,
    ast.Splat: _splat,
    ast.TupleExpr: _tuple,
    ast.ObjectExpr: _object,
    ast.ForExpr: _for,
    ast.BinaryOp: _binary,
    ast.UnaryOp: _unary,
    ast.Conditional: _conditional,
    ast.FunctionCall: _call,
    ast.Template: _template,
}
