"""The syntax tree meshprov evaluates: HCL bodies, blocks, attributes and expressions.

Built from python-hcl2's parse tree by ``lang.parse``; every node carries its source range so
that any diagnostic can point at the exact place in the user's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshprov.diagnostics import SourceRange


@dataclass(frozen=True)
class Expression:
    range: SourceRange


@dataclass(frozen=True)
class Literal(Expression):
    """A number, string without interpolation, bool or null."""

    value: Any


@dataclass(frozen=True)
class Name(Expression):
    """A bare identifier: a traversal root (``var``, ``zone``, ``each``) or a for-variable."""

    name: str


@dataclass(frozen=True)
class GetAttr(Expression):
    source: Expression
    name: str


@dataclass(frozen=True)
class Index(Expression):
    source: Expression
    key: Expression


@dataclass(frozen=True)
class SplatStep:
    """One step applied to each element by a splat: ``.name`` (key None), ``[key]``, or (both
    None) a nested splat over the element so far: ``a[*].b[*]``."""

    name: str | None
    key: Expression | None


@dataclass(frozen=True)
class Splat(Expression):
    """``source.*.a`` (attribute splat) or ``source[*].a[0]`` (full splat)."""

    source: Expression
    steps: tuple[SplatStep, ...]
    full: bool


@dataclass(frozen=True)
class TupleExpr(Expression):
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class ObjectItem:
    key: Expression  # a bare identifier key arrives as a Literal string
    value: Expression


@dataclass(frozen=True)
class ObjectExpr(Expression):
    items: tuple[ObjectItem, ...]


@dataclass(frozen=True)
class FunctionCall(Expression):
    name: str
    args: tuple[Expression, ...]
    expand_final: bool  # the last argument ended with "..."


@dataclass(frozen=True)
class Conditional(Expression):
    condition: Expression
    true_result: Expression
    false_result: Expression


@dataclass(frozen=True)
class BinaryOp(Expression):
    op: str
    left: Expression
    right: Expression


@dataclass(frozen=True)
class UnaryOp(Expression):
    op: str  # "-" or "!"
    operand: Expression


@dataclass(frozen=True)
class ForExpr(Expression):
    """``[for k, v in coll : v if cond]`` or ``{for k, v in coll : k => v... if cond}``."""

    key_var: str | None
    value_var: str
    collection: Expression
    key_expr: Expression | None  # None for a tuple-producing for
    value_expr: Expression
    condition: Expression | None
    grouping: bool


@dataclass(frozen=True)
class Parens(Expression):
    """A parenthesised expression; it matters for object keys, where it forces evaluation."""

    inner: Expression


# --- templates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplatePart:
    """A piece of a template. ``~`` strip markers are applied to the text at parse time."""

    range: SourceRange


@dataclass(frozen=True)
class TemplateText(TemplatePart):
    text: str


@dataclass(frozen=True)
class TemplateInterp(TemplatePart):
    expr: Expression


@dataclass(frozen=True)
class TemplateIf(TemplatePart):
    condition: Expression
    then_parts: tuple[TemplatePart, ...]
    else_parts: tuple[TemplatePart, ...]


@dataclass(frozen=True)
class TemplateFor(TemplatePart):
    key_var: str | None
    value_var: str
    collection: Expression
    body: tuple[TemplatePart, ...]


@dataclass(frozen=True)
class Template(Expression):
    """A string with interpolations or directives, or a heredoc."""

    parts: tuple[TemplatePart, ...]


# --- bodies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    name: str
    expr: Expression
    range: SourceRange  # the whole "name = expr"
    name_range: SourceRange


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...]
    body: Body
    range: SourceRange  # the block header, from type to opening brace
    type_range: SourceRange
    label_ranges: tuple[SourceRange, ...]


@dataclass(frozen=True)
class Body:
    attributes: dict[str, Attribute]
    blocks: tuple[Block, ...]
    range: SourceRange

    def blocks_of(self, block_type: str) -> list[Block]:
        return [b for b in self.blocks if b.type == block_type]


@dataclass(frozen=True)
class File:
    filename: str
    body: Body
