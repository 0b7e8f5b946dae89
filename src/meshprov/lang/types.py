"""Type constraints (a variable's ``type = ...``) and conversion of values to them.

Conversion follows Terraform (go-cty): numbers and bools convert to strings and back, tuples
convert to lists and sets, objects to maps and to narrower objects, ``optional(T, default)``
attributes get their default when null or absent, and ``any`` inside a collection means "one
common type for every element", found the way Terraform unifies types.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from meshprov.diagnostics import DiagnosticError
from meshprov.lang import ast
from meshprov.lang.numbers import Number, negate, parse_number
from meshprov.lang.values import (
    NO_REFINEMENT,
    UNKNOWN,
    HclSet,
    Refinement,
    ResourceValue,
    Unknown,
    declared_type,
    format_number,
    is_number,
    mark,
    unmark,
)

INVALID_TYPE = "Invalid type specification"


class ConversionError(Exception):
    """A value does not conform to a type; ``str()`` is Terraform's message with its path."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()):
        self.reason = reason
        self.path = path
        super().__init__(": ".join((*path, reason)))

    def under(self, step: str) -> ConversionError:
        """The same error one level further out, e.g. under ``element 1``."""
        return ConversionError(self.reason, (step, *self.path))


# --- types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Primitive:
    name: str  # "string", "number" or "bool"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class AnyType:
    def __str__(self) -> str:
        return "any"


@dataclass(frozen=True)
class ListType:
    elem: Type

    def __str__(self) -> str:
        return f"list({self.elem})"


@dataclass(frozen=True)
class SetType:
    elem: Type

    def __str__(self) -> str:
        return f"set({self.elem})"


@dataclass(frozen=True)
class MapType:
    elem: Type

    def __str__(self) -> str:
        return f"map({self.elem})"


class ObjectAttr(NamedTuple):
    name: str
    type: Type
    optional: bool = False
    default: Any = None


@dataclass(frozen=True)
class ObjectType:
    attrs: tuple[ObjectAttr, ...]

    def __post_init__(self) -> None:
        # Object types are unordered: keep attributes sorted so equal types compare equal.
        ordered = tuple(sorted((ObjectAttr(*a) for a in self.attrs), key=lambda a: a.name))
        object.__setattr__(self, "attrs", ordered)

    def attr(self, name: str) -> ObjectAttr | None:
        return next((a for a in self.attrs if a.name == name), None)

    def __str__(self) -> str:
        parts = []
        for a in self.attrs:
            if not a.optional:
                text = str(a.type)
            elif a.default is None:
                text = f"optional({a.type})"
            else:
                text = f"optional({a.type}, {_literal(a.default)})"
            parts.append(f"{a.name}={text}")
        return "object({" + ",".join(parts) + "})"


@dataclass(frozen=True)
class TupleType:
    elems: tuple[Type, ...]

    def __str__(self) -> str:
        return "tuple([" + ",".join(str(e) for e in self.elems) + "])"


Type = Primitive | AnyType | ListType | SetType | MapType | ObjectType | TupleType

STRING = Primitive("string")
NUMBER = Primitive("number")
BOOL = Primitive("bool")
ANY = AnyType()


def unknown_of(t: Type | None, refinement: Refinement = NO_REFINEMENT) -> Unknown:
    """An unknown of type ``t``: the shared ``UNKNOWN`` when neither its type (``any``) nor a
    refinement is known."""
    known_type = None if isinstance(t, AnyType) else t
    if known_type is None and refinement == NO_REFINEMENT:
        return UNKNOWN
    return Unknown(known_type, refinement)


def type_of_unknown(value: Unknown) -> Type:
    return ANY if value.type is None else value.type


def friendly_name(t: Type) -> str:
    """The type as Terraform names it in messages: ``list of string``, ``any single type``."""
    if isinstance(t, AnyType):
        return "any single type"
    if isinstance(t, ListType):
        return f"list of {friendly_name(t.elem)}"
    if isinstance(t, SetType):
        return f"set of {friendly_name(t.elem)}"
    if isinstance(t, MapType):
        return f"map of {friendly_name(t.elem)}"
    if isinstance(t, ObjectType):
        return "object"
    if isinstance(t, TupleType):
        return "tuple"
    return t.name


def _literal(value: Any) -> str:
    """A constant value in HCL syntax, for printing optional() defaults."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | HclSet):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


# --- parsing type expressions --------------------------------------------------------------

_COLLECTIONS: dict[str, Callable[[Type], Type]] = {"list": ListType, "set": SetType, "map": MapType}
_CONSTRUCTOR_ARITY = {
    "list": "The list type constructor requires one argument specifying the element type.",
    "set": "The set type constructor requires one argument specifying the element type.",
    "map": "The map type constructor requires one argument specifying the element type.",
    "object": "The object type constructor requires one argument specifying the attribute "
    "types as an object.",
    "tuple": "The tuple type constructor requires one argument specifying the element types "
    "as a list.",
}


def _invalid(detail: str, expr: ast.Expression) -> DiagnosticError:
    return DiagnosticError.single(INVALID_TYPE, detail, expr.range)


def parse_type(expr: ast.Expression) -> Type:
    """The type a ``type = ...`` expression denotes; raises ``Invalid type specification``."""
    if isinstance(expr, ast.Name):
        keyword = expr.name
        keywords: dict[str, Type] = {"string": STRING, "number": NUMBER, "bool": BOOL, "any": ANY}
        primitive = keywords.get(keyword)
        if primitive is not None:
            return primitive
        if keyword in _CONSTRUCTOR_ARITY:
            raise _invalid(_CONSTRUCTOR_ARITY[keyword], expr)
        if keyword == "null":
            raise _invalid('The keyword "null" cannot be used in a type specification.', expr)
        raise _invalid(f'The keyword "{keyword}" is not a valid type specification.', expr)
    if isinstance(expr, ast.FunctionCall):
        return _parse_call(expr)
    quoted = _try_constant(expr)
    if isinstance(quoted, str):
        # Terraform 0.11 spelled types as strings; say how to fix it rather than "invalid".
        raise _invalid(
            f'Type constraints are keywords, not strings: remove the quotes around "{quoted}".',
            expr,
        )
    raise _invalid(
        "A type specification is either a primitive type keyword (bool, number, string) or a "
        "complex type constructor call, like list(string).",
        expr,
    )


def _parse_call(call: ast.FunctionCall) -> Type:
    name = call.name
    if name in ("bool", "string", "number"):
        raise _invalid(f'Primitive type keyword "{name}" does not expect arguments.', call)
    if name == "any":
        raise _invalid('Type constraint keyword "any" does not expect arguments.', call)
    if name == "optional":
        raise _invalid(
            'Keyword "optional" is valid only as a modifier for object type attributes.', call
        )
    if name not in _CONSTRUCTOR_ARITY:
        raise _invalid(f'Keyword "{name}" is not a valid type constructor.', call)
    if len(call.args) != 1 or call.expand_final:
        raise _invalid(_CONSTRUCTOR_ARITY[name], call)
    arg = call.args[0]
    if name in _COLLECTIONS:
        return _COLLECTIONS[name](parse_type(arg))
    if name == "tuple":
        if not isinstance(arg, ast.TupleExpr):
            raise _invalid("Tuple type constructor requires a list of element types.", arg)
        return TupleType(tuple(parse_type(item) for item in arg.items))
    if not isinstance(arg, ast.ObjectExpr):
        raise _invalid(
            "Object type constructor requires a map whose keys are attribute names and whose "
            "values are the corresponding attribute types.",
            arg,
        )
    attrs: dict[str, ObjectAttr] = {}
    for item in arg.items:
        attr_name = _attribute_name(item.key)
        if attr_name in attrs:
            raise _invalid(f'Attribute "{attr_name}" is declared more than once.', item.key)
        attrs[attr_name] = _parse_attribute(attr_name, item.value)
    return ObjectType(tuple(attrs.values()))


def _attribute_name(key: ast.Expression) -> str:
    if isinstance(key, ast.Name):
        return key.name
    if isinstance(key, ast.Literal) and isinstance(key.value, str):
        return key.value
    raise _invalid("Object constructor map keys must be attribute names.", key)


def _parse_attribute(name: str, expr: ast.Expression) -> ObjectAttr:
    if not (isinstance(expr, ast.FunctionCall) and expr.name == "optional"):
        return ObjectAttr(name, parse_type(expr))
    if not expr.args or expr.expand_final:
        raise _invalid(
            "Optional attribute modifier requires the attribute type as its argument.", expr
        )
    if len(expr.args) > 2:
        raise _invalid(
            "Optional attribute modifier expects at most two arguments: the attribute type, "
            "and a default value.",
            expr,
        )
    attr_type = parse_type(expr.args[0])
    if len(expr.args) == 1:
        return ObjectAttr(name, attr_type, True, None)
    default_expr = expr.args[1]
    try:
        default = _constant(default_expr)
    except _NotConstant:
        raise _invalid(
            "The default value of an optional attribute must be a constant: a literal, or a "
            "list or object of literals.",
            default_expr,
        ) from None
    try:
        default = convert(default, attr_type)
    except ConversionError as e:
        raise DiagnosticError.single(
            "Invalid default value for optional attribute",
            f"This default value is not compatible with the attribute's type constraint: {e}.",
            default_expr.range,
        ) from None
    return ObjectAttr(name, attr_type, True, default)


class _NotConstant(Exception):
    pass


def _constant(expr: ast.Expression) -> Any:
    """Fold a literal, or a tuple/object of literals, to its value (optional() defaults)."""
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Parens):
        return _constant(expr.inner)
    if isinstance(expr, ast.UnaryOp) and expr.op == "-":
        operand = _constant(expr.operand)
        if is_number(operand):
            return negate(operand)
    if isinstance(expr, ast.Template):
        texts = [p.text for p in expr.parts if isinstance(p, ast.TemplateText)]
        if len(texts) == len(expr.parts):
            return "".join(texts)
    if isinstance(expr, ast.TupleExpr):
        return [_constant(item) for item in expr.items]
    if isinstance(expr, ast.ObjectExpr):
        out = {}
        for item in expr.items:
            if isinstance(item.key, ast.Name):
                key = item.key.name
            elif isinstance(item.key, ast.Literal) and isinstance(item.key.value, str):
                key = item.key.value
            else:
                raise _NotConstant
            out[key] = _constant(item.value)
        return out
    raise _NotConstant


def _try_constant(expr: ast.Expression) -> Any:
    try:
        return _constant(expr)
    except _NotConstant:
        return None


# --- conversion ----------------------------------------------------------------------------


def to_string(value: Any) -> str:
    """A known, unmarked primitive as a string (``5`` → ``"5"``, ``true`` → ``"true"``)."""
    if value is None:
        raise ConversionError("argument must not be null")
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(value)
    raise ConversionError("string required")


def to_number(value: Any) -> Number:
    """A known, unmarked primitive as a number (``"5"`` → ``5``)."""
    if value is None:
        raise ConversionError("argument must not be null")
    if is_number(value):
        return value
    if isinstance(value, str):
        number = parse_number(value)
        if number is None:
            raise ConversionError("a number is required")
        return number
    raise ConversionError("number required")


def to_bool(value: Any) -> bool:
    """A known, unmarked primitive as a bool (only ``"true"`` and ``"false"`` convert)."""
    if value is None:
        raise ConversionError("argument must not be null")
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        raise ConversionError("a bool is required")
    raise ConversionError("bool required")


_PRIMITIVE_CONVERTERS = {"string": to_string, "number": to_number, "bool": to_bool}


def convert(value: Any, want: Type) -> Any:
    """``value`` converted to ``want`` as Terraform converts it; raises ``ConversionError``.

    Null and unknown convert to themselves; a sensitive value converts inside its mark.
    """
    if isinstance(want, AnyType):
        return value
    raw, sensitive = unmark(value)
    if raw is None or raw is UNKNOWN:
        return value
    if isinstance(raw, Unknown):  # its type must be able to convert, as go-cty checks first
        if not can_convert(type_of_unknown(raw), want):
            raise ConversionError(f"{friendly_name(want)} required")
        result_type = raw.type if _has_any(want) else want
        return mark(
            unknown_of(result_type, Refinement(not_null=raw.refinement.not_null)), sensitive
        )
    return mark(_convert_known(raw, want), sensitive)


def can_convert(have: Type, want: Type) -> bool:
    """Whether some value of type ``have`` can convert to ``want`` (go-cty's static check:
    ``"5"`` may become a number, a tuple never becomes a string)."""
    if isinstance(have, AnyType) or isinstance(want, AnyType) or have == want:
        return True
    if isinstance(want, Primitive):
        return isinstance(have, Primitive) and STRING in (have, want)
    if isinstance(want, ListType | SetType):
        if isinstance(have, TupleType):
            return all(can_convert(e, want.elem) for e in have.elems)
        return isinstance(have, ListType | SetType) and can_convert(have.elem, want.elem)
    if isinstance(want, MapType):
        if isinstance(have, ObjectType):
            return all(can_convert(a.type, want.elem) for a in have.attrs)
        return isinstance(have, MapType) and can_convert(have.elem, want.elem)
    if isinstance(want, ObjectType):
        if isinstance(have, MapType):
            return all(can_convert(have.elem, a.type) for a in want.attrs)
        if not isinstance(have, ObjectType):
            return False
        for attr in want.attrs:
            given = have.attr(attr.name)
            if given is None and not attr.optional:
                return False
            if given is not None and not can_convert(given.type, attr.type):
                return False
        return True
    if isinstance(have, ListType):
        return all(can_convert(have.elem, e) for e in want.elems)
    return (
        isinstance(have, TupleType)
        and len(have.elems) == len(want.elems)
        and all(can_convert(h, w) for h, w in zip(have.elems, want.elems, strict=True))
    )


def _convert_known(raw: Any, want: Type) -> Any:
    if isinstance(want, Primitive):
        return _PRIMITIVE_CONVERTERS[want.name](raw)
    if isinstance(want, ListType | SetType):
        if not isinstance(raw, list | HclSet):
            raise ConversionError(f"{friendly_name(want)} required")
        items = [_convert_step(v, want.elem, f"element {i}") for i, v in enumerate(raw)]
        noun = "list" if isinstance(want, ListType) else "set"
        items = _unify_elements(items, want.elem, noun)
        return items if isinstance(want, ListType) else HclSet(items)
    if isinstance(want, MapType):
        if not isinstance(raw, dict):
            raise ConversionError(f"{friendly_name(want)} required")
        converted = {k: _convert_step(v, want.elem, f'element "{k}"') for k, v in raw.items()}
        unified = _unify_elements(list(converted.values()), want.elem, "map")
        return dict(zip(converted, unified, strict=True))
    if isinstance(want, ObjectType):
        if not isinstance(raw, dict):
            raise ConversionError("object required")
        converted = _convert_object(raw, want)
        # a resource instance stays itself through conversions (tolist, toset, unification)
        if isinstance(raw, ResourceValue):
            return ResourceValue(raw.address, converted)
        return converted
    if isinstance(want, AnyType):  # convert() returns before this; kept for the type checker
        return raw
    if not isinstance(raw, list) or len(raw) != len(want.elems):
        raise ConversionError(f"tuple of {len(want.elems)} elements required")
    pairs = zip(raw, want.elems, strict=True)
    return [_convert_step(v, t, f"element {i}") for i, (v, t) in enumerate(pairs)]


def _convert_step(value: Any, want: Type, step: str) -> Any:
    try:
        return convert(value, want)
    except ConversionError as e:
        raise e.under(step) from None


def _convert_object(raw: dict, want: ObjectType) -> dict:
    missing = [a.name for a in want.attrs if not a.optional and a.name not in raw]
    if missing:
        raise ConversionError(_missing_message(missing))
    out = {}
    for attr in want.attrs:
        value = _convert_step(raw.get(attr.name), attr.type, f'attribute "{attr.name}"')
        if value is None and attr.default is not None:
            value = copy.deepcopy(attr.default)
        out[attr.name] = value
    return out  # attributes the type does not declare are dropped, as Terraform does


def _missing_message(names: list[str]) -> str:
    quoted = [f'"{n}"' for n in sorted(names)]
    if len(quoted) == 1:
        return f"attribute {quoted[0]} is required"
    if len(quoted) == 2:
        return f"attributes {quoted[0]} and {quoted[1]} are required"
    return f"attributes {', '.join(quoted[:-1])}, and {quoted[-1]} are required"


# --- unification: what list(any) and map(any) become -----------------------------------------


def _has_any(t: Type) -> bool:
    if isinstance(t, AnyType):
        return True
    if isinstance(t, ListType | SetType | MapType):
        return _has_any(t.elem)
    if isinstance(t, ObjectType):
        return any(_has_any(a.type) for a in t.attrs)
    if isinstance(t, TupleType):
        return any(_has_any(e) for e in t.elems)
    return False


def _unify_elements(items: list, elem: Type, noun: str) -> list:
    """Convert a collection's elements to one common type when its element type has ``any``."""
    if not _has_any(elem):
        return items
    common = unify([infer_type(v) for v in items])
    if common is None:
        raise ConversionError(f"all {noun} elements must have the same type")
    return [convert(v, common) for v in items]


def infer_type(value: Any) -> Type:
    """The type of a value: an unknown's or a typed null's own type, ``any`` for a null of no
    type, which fits every type."""
    declared = declared_type(value)
    if declared is not None:
        return declared
    raw, _ = unmark(value)
    if isinstance(raw, Unknown) or raw is None:
        return ANY
    if isinstance(raw, bool):
        return BOOL
    if is_number(raw):
        return NUMBER
    if isinstance(raw, str):
        return STRING
    if isinstance(raw, HclSet):
        return SetType(unify([infer_type(v) for v in raw]) or ANY)
    if isinstance(raw, list):
        return TupleType(tuple(infer_type(v) for v in raw))
    if isinstance(raw, dict):
        return ObjectType(tuple(ObjectAttr(k, infer_type(v)) for k, v in raw.items()))
    return ANY


def type_json(t: Type) -> Any:
    """A type in Terraform's JSON form (go-cty's): ``"string"``, ``["list", "string"]``,
    ``["object", {"a": "number"}]``, ``["tuple", [...]]``; ``any`` is ``"dynamic"``."""
    if isinstance(t, Primitive):
        return t.name
    if isinstance(t, ListType | SetType | MapType):
        kind = {ListType: "list", SetType: "set", MapType: "map"}[type(t)]
        return [kind, type_json(t.elem)]
    if isinstance(t, ObjectType):
        shape: list[Any] = ["object", {a.name: type_json(a.type) for a in t.attrs}]
        optional = [a.name for a in t.attrs if a.optional]
        return [*shape, optional] if optional else shape
    if isinstance(t, TupleType):
        return ["tuple", [type_json(e) for e in t.elems]]
    return "dynamic"


def type_from_json(data: Any) -> Type:
    """The inverse of ``type_json``: a type from go-cty's JSON form."""
    if data == "dynamic":
        return ANY
    if data in ("string", "number", "bool"):
        return Primitive(data)
    kind, shape = data[0], data[1]
    if kind in _COLLECTIONS:
        elem = type_from_json(shape)
        if kind == "list":
            return ListType(elem)
        return SetType(elem) if kind == "set" else MapType(elem)
    if kind == "tuple":
        return TupleType(tuple(type_from_json(e) for e in shape))
    optional = set(data[2]) if len(data) > 2 else set()
    return ObjectType(
        tuple(ObjectAttr(k, type_from_json(v), k in optional) for k, v in shape.items())
    )


def unify(types: list[Type]) -> Type | None:
    """The one type all of ``types`` convert to, as go-cty unifies them; None if there is none."""
    types = [t for t in types if not isinstance(t, AnyType)]
    if not types:
        return ANY
    first = types[0]
    if all(t == first for t in types):
        return first
    if all(isinstance(t, Primitive) for t in types):
        # string absorbs number and bool; number and bool have no common type
        return STRING if STRING in types else None
    objects = [t for t in types if isinstance(t, ObjectType)]
    if len(objects) == len(types):
        names = [tuple(a.name for a in t.attrs) for t in objects]
        if all(n == names[0] for n in names):
            attrs = []
            for i, name in enumerate(names[0]):
                attr_type = unify([t.attrs[i].type for t in objects])
                if attr_type is None:
                    return None
                attrs.append(ObjectAttr(name, attr_type))
            return ObjectType(tuple(attrs))
    if all(isinstance(t, ObjectType | MapType) for t in types):
        elem = unify(_member_types(types))
        return None if elem is None else MapType(elem)
    tuples = [t for t in types if isinstance(t, TupleType)]
    if len(tuples) == len(types) and len({len(t.elems) for t in tuples}) == 1:
        elems = [unify(list(column)) for column in zip(*(t.elems for t in tuples), strict=True)]
        known = [e for e in elems if e is not None]
        return TupleType(tuple(known)) if len(known) == len(elems) else None
    if all(isinstance(t, TupleType | ListType) for t in types):
        elem = unify(_member_types(types))
        return None if elem is None else ListType(elem)
    if all(isinstance(t, SetType) for t in types):
        elem = unify(_member_types(types))
        return None if elem is None else SetType(elem)
    return None


def _member_types(types: list[Type]) -> list[Type]:
    out: list[Type] = []
    for t in types:
        if isinstance(t, ObjectType):
            out.extend(a.type for a in t.attrs)
        elif isinstance(t, TupleType):
            out.extend(t.elems)
        elif isinstance(t, ListType | SetType | MapType):
            out.append(t.elem)
    return out
