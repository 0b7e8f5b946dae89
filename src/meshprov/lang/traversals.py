"""Static references in expressions: which names an expression reads, for the dependency graph.

A reference is a root name followed by the attribute names and constant keys that follow it,
as far as they are static: ``zone.eu["a"].cert_pem`` → ``("zone", ("eu", "a", "cert_pem"))``.
Names bound by ``for`` expressions and template ``for`` directives are not references.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from meshprov.diagnostics import DiagnosticError, SourceRange
from meshprov.lang import ast
from meshprov.lang.deep import retry_deeper


@dataclass(frozen=True)
class Traversal:
    root: str
    steps: tuple[str | int, ...]
    range: SourceRange


def traversals(expr: ast.Expression) -> list[Traversal]:
    """The references in ``expr``; deep nesting, which parses and evaluates on a deep stack
    (``meshprov.lang.deep``), is walked on one too."""
    return retry_deeper(_all, (expr,), lambda: _too_deep(expr.range))


def _all(expr: ast.Expression) -> list[Traversal]:
    return list(_walk(expr, frozenset()))


def _too_deep(rng: SourceRange) -> DiagnosticError:
    return DiagnosticError.single(
        "Expression nested too deeply",
        "This expression nests more deeply than meshprov can read.",
        rng,
    )


def _static_chain(
    expr: ast.Expression,
) -> tuple[ast.Name, list[str | int], list[ast.Expression]] | None:
    """Unwind GetAttr/Index to a root Name; returns (root, static steps, dynamic key exprs)."""
    steps: list[str | int] = []
    dynamic: list[ast.Expression] = []
    node = expr
    while True:
        if isinstance(node, ast.GetAttr):
            steps.append(node.name)
            node = node.source
        elif isinstance(node, ast.Index):
            key = node.key
            if (
                isinstance(key, ast.Literal)
                and isinstance(key.value, str | int)
                and not isinstance(key.value, bool)
            ):
                steps.append(key.value)
            else:
                # steps after a dynamic key are not part of the static traversal
                steps.clear()
                dynamic.append(key)
            node = node.source
        elif isinstance(node, ast.Name):
            steps.reverse()
            return node, steps, dynamic
        else:
            return None


def _walk(expr: ast.Expression, bound: frozenset[str]) -> Iterator[Traversal]:
    if isinstance(expr, ast.GetAttr | ast.Index | ast.Name):
        chain = _static_chain(expr)
        if chain is not None:
            root, steps, dynamic = chain
            if root.name not in bound:
                yield Traversal(root.name, tuple(steps), expr.range)
            for key in dynamic:
                yield from _walk(key, bound)
            return
        # the chain starts at something other than a name, e.g. a function call
        assert not isinstance(expr, ast.Name)  # a lone name is always a static chain
        yield from _walk(expr.source, bound)
        if isinstance(expr, ast.Index):
            yield from _walk(expr.key, bound)
        return
    if isinstance(expr, ast.Splat):
        yield from _walk(expr.source, bound)
        for step in expr.steps:
            if step.key is not None:
                yield from _walk(step.key, bound)
    elif isinstance(expr, ast.TupleExpr):
        for item in expr.items:
            yield from _walk(item, bound)
    elif isinstance(expr, ast.ObjectExpr):
        for pair in expr.items:
            yield from _walk(pair.key, bound)
            yield from _walk(pair.value, bound)
    elif isinstance(expr, ast.FunctionCall):
        for arg in expr.args:
            yield from _walk(arg, bound)
    elif isinstance(expr, ast.Conditional):
        yield from _walk(expr.condition, bound)
        yield from _walk(expr.true_result, bound)
        yield from _walk(expr.false_result, bound)
    elif isinstance(expr, ast.BinaryOp):
        yield from _walk(expr.left, bound)
        yield from _walk(expr.right, bound)
    elif isinstance(expr, ast.UnaryOp):
        yield from _walk(expr.operand, bound)
    elif isinstance(expr, ast.Parens):
        yield from _walk(expr.inner, bound)
    elif isinstance(expr, ast.ForExpr):
        yield from _walk(expr.collection, bound)
        inner = bound | {expr.value_var} | ({expr.key_var} if expr.key_var else set())
        for sub in (expr.key_expr, expr.value_expr, expr.condition):
            if sub is not None:
                yield from _walk(sub, inner)
    elif isinstance(expr, ast.Template):
        yield from _walk_parts(expr.parts, bound)


def _walk_parts(parts: tuple[ast.TemplatePart, ...], bound: frozenset[str]) -> Iterator[Traversal]:
    for part in parts:
        if isinstance(part, ast.TemplateInterp):
            yield from _walk(part.expr, bound)
        elif isinstance(part, ast.TemplateIf):
            yield from _walk(part.condition, bound)
            yield from _walk_parts(part.then_parts, bound)
            yield from _walk_parts(part.else_parts, bound)
        elif isinstance(part, ast.TemplateFor):
            yield from _walk(part.collection, bound)
            inner = bound | {part.value_var} | ({part.key_var} if part.key_var else set())
            yield from _walk_parts(part.body, inner)
