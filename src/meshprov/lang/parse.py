"""HCL text → meshprov syntax tree, with source ranges kept on every node.

Parsing is python-hcl2's LALR grammar. We read its parse tree (which carries line and column
on every rule and token) straight into ``lang.ast`` in one pass. python-hcl2's own typed rule
tree is a second full pass over the same tree and costs as much as the parse itself, and we
would still have to convert it, so we skip it. Heredoc bodies arrive from the grammar as one
token; their templates are scanned here, and the expressions inside them parsed again with the
same grammar.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from hcl2.api import parses_to_tree
from lark import Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken

from meshprov.diagnostics import DiagnosticError, Pos, SourceRange, error
from meshprov.lang import ast
from meshprov.lang.deep import retry_deeper
from meshprov.lang.numbers import MAGNITUDE, parse_number
from meshprov.lang.syntax_errors import UNTERMINATED_DETAIL, syntax_error

# Python converts at most this many digits between text and int (a guard against quadratic
# conversions); a longer integer literal is a diagnostic, not a traceback.
_MAX_INT_DIGITS = 4300
_KEYWORD_TEXT = {None: "null", True: "true", False: "false"}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)


def parse_file(text: str, filename: str) -> ast.File:
    """Parse one HCL file; a syntax error raises ``DiagnosticError`` naming file, line, column."""
    return retry_deeper(_parse_file, (text, filename), lambda: _too_deep(text, filename))


def _parse_file(text: str, filename: str) -> ast.File:
    with gc_paused():
        tree = _parse_tree(text, filename)
        return ast.File(filename, _Builder(filename).body(tree.children[0]))


def _too_deep(text: str, filename: str, line0: int = 1) -> DiagnosticError:
    """The diagnostic for input nested beyond what even a deep stack holds, at its deepest."""
    depth = deepest = line = deepest_line = 0
    for ch in text:
        if ch == "\n":
            line += 1
        elif ch in "([{":
            depth += 1
            if depth > deepest:
                deepest, deepest_line = depth, line
        elif ch in ")]}":
            depth -= 1
    pos = Pos(line0 + deepest_line, 1, 0)
    return DiagnosticError.single(
        "Expression nested too deeply",
        f"This expression nests {deepest} levels deep, more than meshprov can read.",
        SourceRange(filename, pos, pos),
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is parsed (or its tree unpickled).

    A parse allocates a parse tree and a syntax tree of several objects per source token, all
    alive until the end and free of reference cycles. With the collector running, its passes
    over that growing heap cost more than parsing itself (1,000 zone blocks: 2.7 s CPU instead
    of 1.4 s) and grow faster than the file (5,000 zone blocks: 17 s instead of 7 s).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse_expression(text: str, filename: str, line: int = 1, column: int = 1) -> ast.Expression:
    """Parse a standalone expression (e.g. from ``--var``) as if it stood at ``line:column``."""
    return retry_deeper(
        _parse_expression, (text, filename, line, column), lambda: _too_deep(text, filename, line)
    )


def _parse_expression(text: str, filename: str, line: int, column: int) -> ast.Expression:
    body = text.lstrip()
    if body != text:  # leading blank lines and spaces: the expression starts further on
        leading = text[: len(text) - len(body)]
        if "\n" in leading:
            line += leading.count("\n")
            column = len(leading.rsplit("\n", 1)[1]) + 1
        else:
            column += len(leading)
        text = body
    tree = _parse_tree(f"x = {text}", filename, line, column - 4)
    attr = tree.children[0].children[0]
    builder = _Builder(filename, line - 1, column - 5)
    return builder.expr(attr.children[2])


def parse_template(text: str, filename: str) -> ast.Expression:
    """Parse a whole file as a template (``templatefile``), with heredoc rules and no trimming."""
    builder = _Builder(filename)
    flat: list = []
    for offset, line in enumerate(text.splitlines(keepends=True)):
        builder.scan_template_line(flat, line, 1 + offset, 1)
    whole = SourceRange(filename, Pos(1, 1, 0), Pos(text.count("\n") + 1, 1, len(text)))
    return builder.assemble(_merge_texts(flat), whole)


def _parse_tree(text: str, filename: str, line0: int = 1, col0: int = 1) -> Tree:
    original = text
    for _ in range(_MAX_NAMESPACED_CALLS):
        try:
            return parses_to_tree(text)
        except UnexpectedInput as exc:
            patched = _core_call(text, exc)
            if patched is None:
                diagnostic = syntax_error(exc, original, filename, line0, col0)
                raise DiagnosticError([diagnostic]) from None
            text = patched
    raise DiagnosticError.single(
        "Too many namespaced function calls",
        f"meshprov reads at most {_MAX_NAMESPACED_CALLS} core:: function calls per file.",
        SourceRange(filename, Pos(line0, col0, 0), Pos(line0, col0, 0)),
    )


# python-hcl2's grammar knows provider::NAME::FN(...) but not core::FN(...) (Terraform 1.8's
# namespace for built-ins). Where the parse fails on the "(" of such a call, which happens
# only outside strings and comments, the call is respelled core__FN, which has the same
# length (so every position stays right), and the builder reads it back as core::FN.
_MAX_NAMESPACED_CALLS = 1000
_CORE_CALL = re.compile(r"(?<![\w:-])core::([A-Za-z_][\w-]*)[ \t]*\Z")
_CORE_PREFIX = "core__"


def _core_call(text: str, exc: UnexpectedInput) -> str | None:
    if not isinstance(exc, UnexpectedToken) or exc.token.type != "LPAR":
        return None
    where = exc.pos_in_stream
    m = _CORE_CALL.search(text, 0, where) if where is not None else None
    if m is None:
        return None
    return text[: m.start()] + _CORE_PREFIX + text[m.start() + 6 :]


class _Builder:
    """Converts one python-hcl2 parse tree into ``lang.ast`` nodes."""

    def __init__(self, filename: str, line_offset: int = 0, first_line_col_offset: int = 0):
        self.filename = filename
        self.line_offset = line_offset
        self.col_offset = first_line_col_offset

    # --- positions -------------------------------------------------------------------------

    def _pos(self, line: int, column: int, byte: int) -> Pos:
        col = column + (self.col_offset if line == 1 else 0)
        return Pos(line + self.line_offset, col, byte)

    def rng(self, node: Tree | Token) -> SourceRange:
        if isinstance(node, Token):
            start = self._pos(node.line or 1, node.column or 1, node.start_pos or 0)
            end = self._pos(
                node.end_line or node.line or 1, node.end_column or 1, node.end_pos or 0
            )
        else:
            meta = node.meta
            if getattr(meta, "empty", True):
                start = end = self._pos(1, 1, 0)
            else:
                start = self._pos(meta.line, meta.column, meta.start_pos)
                end = self._pos(meta.end_line, meta.end_column, meta.end_pos)
        return SourceRange(self.filename, start, end)

    def span(self, first: Tree | Token, last: Tree | Token) -> SourceRange:
        return SourceRange(self.filename, self.rng(first).start, self.rng(last).end)

    # --- bodies ----------------------------------------------------------------------------

    def body(self, tree: Tree) -> ast.Body:
        attributes: dict[str, ast.Attribute] = {}
        blocks: list[ast.Block] = []
        problems = []
        for child in tree.children:
            if not isinstance(child, Tree):
                continue
            if child.data == "attribute":
                attr = self.attribute(child)
                if attr.name in attributes:
                    first = attributes[attr.name].name_range
                    problems.append(
                        error(
                            "Attribute redefined",
                            f'The argument "{attr.name}" was already set at {first.filename}:'
                            f"{first.start.line},{first.start.column}. Each argument may be set "
                            "only once.",
                            attr.name_range,
                        )
                    )
                attributes[attr.name] = attr
            elif child.data == "block":
                blocks.append(self.block(child))
        if problems:
            raise DiagnosticError(problems)
        return ast.Body(attributes, tuple(blocks), self.rng(tree))

    def attribute(self, tree: Tree) -> ast.Attribute:
        name_node, _eq, value = tree.children
        return ast.Attribute(
            name=self._word(name_node),
            expr=self.expr(value),
            range=self.rng(tree),
            name_range=self.rng(name_node),
        )

    def block(self, tree: Tree) -> ast.Block:
        heads = [
            c for c in tree.children if isinstance(c, Tree) and c.data != "new_line_or_comment"
        ]
        *label_nodes, body_node = heads
        type_node, *label_nodes = label_nodes
        labels = []
        for node in label_nodes:
            if node.data == "string":
                template = self.string(node)
                if not isinstance(template, ast.Literal):
                    raise DiagnosticError.single(
                        "Invalid block label",
                        "Block labels must be plain strings, without interpolations.",
                        self.rng(node),
                    )
                labels.append(template.value)
            else:
                labels.append(self._word(node))
        lbrace = next(c for c in tree.children if isinstance(c, Token) and c.type == "LBRACE")
        rbrace = next(c for c in tree.children if isinstance(c, Token) and c.type == "RBRACE")
        body = self.body(body_node)
        self._check_single_line(body, lbrace, rbrace)
        return ast.Block(
            type=self._word(type_node),
            labels=tuple(labels),
            body=body,
            range=self.span(type_node, lbrace),
            type_range=self.rng(type_node),
            label_ranges=tuple(self.rng(n) for n in label_nodes),
        )

    def _check_single_line(self, body: ast.Body, lbrace: Token, rbrace: Token) -> None:
        """HCL's single-line blocks: content on the "{" line makes ``a { b = 1 }`` a
        single-line block, which holds one argument and closes on the same line."""
        items = sorted(
            [(a.range, a) for a in body.attributes.values()] + [(b.range, b) for b in body.blocks],
            key=lambda item: (item[0].start.line, item[0].start.column),
        )
        assert lbrace.line is not None and rbrace.line is not None  # lexed with positions
        line = lbrace.line + self.line_offset
        if not items or items[0][0].start.line != line:
            return
        first_range, first = items[0]
        if isinstance(first, ast.Block):
            detail = (
                "A single-line block definition cannot contain another block definition. To "
                "define a nested block, place it on a line of its own within its parent block."
            )
        elif len(items) > 1:
            detail = (
                "Single-line block syntax can include only one argument definition. To define "
                "multiple arguments, use the multi-line block syntax with one argument "
                "definition per line."
            )
        elif rbrace.line + self.line_offset != line:
            detail = (
                "An argument definition on the same line as its containing block creates a "
                "single-line block definition, which must also be closed on the same line. "
                "Place the block's closing brace immediately after the argument definition."
            )
        else:
            return
        raise DiagnosticError.single(
            "Invalid single-argument block definition", detail, first_range
        )

    @staticmethod
    def _word(node: Tree) -> str:
        """The text of an identifier, keyword or literal-value node used as a name."""
        return str(node.children[0])

    # --- expressions -----------------------------------------------------------------------

    def expr(self, node: Tree) -> ast.Expression:
        method = getattr(self, f"_x_{node.data}")
        return method(node)

    def _subtrees(self, node: Tree) -> list[Tree]:
        return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]

    def _x_expr_term(self, node: Tree) -> ast.Expression:
        kids = self._subtrees(node)
        inner = self.expr(kids[0])
        first = node.children[0]
        if isinstance(first, Token) and first.type == "LPAR":
            return ast.Parens(self.rng(node), inner)
        return inner

    def _x_int_lit(self, node: Tree) -> ast.Expression:
        digits = str(node.children[0])
        if len(digits) > _MAX_INT_DIGITS:
            raise DiagnosticError.single(
                "Number literal too long",
                f"This number has {len(digits)} digits; meshprov reads integer literals of up "
                f"to {_MAX_INT_DIGITS} digits.",
                self.rng(node),
            )
        return ast.Literal(self.rng(node), int(digits))

    def _x_float_lit(self, node: Tree) -> ast.Expression:
        number = parse_number(str(node.children[0]))
        if number is None:
            raise DiagnosticError.single(
                "Number literal out of range",
                f"meshprov holds numbers up to {MAGNITUDE} in magnitude.",
                self.rng(node),
            )
        return ast.Literal(self.rng(node), number)

    def _x_literal_value(self, node: Tree) -> ast.Expression:
        word = str(node.children[0])
        return ast.Literal(self.rng(node), {"true": True, "false": False, "null": None}[word])

    def _x_identifier(self, node: Tree) -> ast.Expression:
        return ast.Name(self.rng(node), str(node.children[0]))

    def _x_keyword(self, node: Tree) -> ast.Expression:
        return ast.Name(self.rng(node), str(node.children[0]))

    def _x_string(self, node: Tree) -> ast.Expression:
        return self.string(node)

    def _x_template_string(self, node: Tree) -> ast.Expression:
        raw = str(node.children[0])
        return ast.Literal(self.rng(node), _unescape(raw[2:-2]))

    def _x_heredoc_template(self, node: Tree) -> ast.Expression:
        return self.heredoc(node, trim=False)

    def _x_heredoc_template_trim(self, node: Tree) -> ast.Expression:
        return self.heredoc(node, trim=True)

    def _x_tuple(self, node: Tree) -> ast.Expression:
        return ast.TupleExpr(self.rng(node), tuple(self.expr(c) for c in self._subtrees(node)))

    def _x_object(self, node: Tree) -> ast.Expression:
        items = []
        for elem in self._subtrees(node):
            key_node, value_node = self._subtrees(elem)
            key_inner = key_node.children[0]
            if isinstance(key_inner, Tree) and key_inner.data == "keyword":
                key: ast.Expression = ast.Literal(self.rng(key_inner), str(key_inner.children[0]))
            else:
                key = self.expr(key_inner)
                if isinstance(key, ast.Name):  # a bare identifier key is its own name
                    key = ast.Literal(key.range, key.name)
                elif isinstance(key, ast.Literal) and (
                    key.value is None or isinstance(key.value, bool)
                ):  # a bare null, true or false key is its own name too
                    key = ast.Literal(key.range, _KEYWORD_TEXT[key.value])
                elif isinstance(key, ast.GetAttr | ast.Index):
                    raise DiagnosticError.single(
                        "Ambiguous attribute key",
                        "If this expression is intended to be a reference, wrap it in "
                        "parentheses. If it's instead intended as a literal name containing "
                        "periods, wrap it in quotes to create a string literal.",
                        key.range,
                    )
            items.append(ast.ObjectItem(key, self.expr(value_node)))
        return ast.ObjectExpr(self.rng(node), tuple(items))

    def _x_function_call(self, node: Tree) -> ast.Expression:
        names = [c for c in node.children if isinstance(c, Tree) and c.data == "identifier"]
        name = "::".join(str(n.children[0]) for n in names)
        if name.startswith(_CORE_PREFIX):
            name = "core::" + name[len(_CORE_PREFIX) :]
        args: tuple[ast.Expression, ...] = ()
        expand = False
        for child in node.children:
            if isinstance(child, Tree) and child.data == "arguments":
                args = tuple(self.expr(a) for a in self._subtrees(child))
                expand = any(isinstance(t, Token) and t.type == "ELLIPSIS" for t in child.children)
        return ast.FunctionCall(self.rng(node), name, args, expand)

    def _x_conditional(self, node: Tree) -> ast.Expression:
        cond, yes, no = self._subtrees(node)
        return ast.Conditional(self.rng(node), self.expr(cond), self.expr(yes), self.expr(no))

    def _x_binary_op(self, node: Tree) -> ast.Expression:
        left, term = self._subtrees(node)[:2]
        operator, right = self._subtrees(term)
        op = str(operator.children[0])
        return ast.BinaryOp(self.span(left, right), op, self.expr(left), self.expr(right))

    def _x_unary_op(self, node: Tree) -> ast.Expression:
        op_token, operand = node.children
        return ast.UnaryOp(self.rng(node), str(op_token), self.expr(operand))

    def _x_index_expr_term(self, node: Tree) -> ast.Expression:
        source, index = self._subtrees(node)
        return self._apply_index(self.expr(source), index, node)

    def _apply_index(self, source: ast.Expression, index: Tree, whole: Tree) -> ast.Expression:
        rng = SourceRange(self.filename, source.range.start, self.rng(whole).end)
        if index.data == "short_index":
            key_token = index.children[1]
            return ast.Index(rng, source, ast.Literal(self.rng(key_token), int(str(key_token))))
        (key,) = self._subtrees(index)
        return ast.Index(rng, source, self.expr(key))

    def _x_get_attr_expr_term(self, node: Tree) -> ast.Expression:
        source, get_attr = self._subtrees(node)
        return ast.GetAttr(self.rng(node), self.expr(source), self._attr_name(get_attr))

    def _attr_name(self, get_attr: Tree) -> str:
        return str(self._subtrees(get_attr)[0].children[0])

    def _x_attr_splat_expr_term(self, node: Tree) -> ast.Expression:
        return self._splat(node, full=False)

    def _x_full_splat_expr_term(self, node: Tree) -> ast.Expression:
        return self._splat(node, full=True)

    def _splat(self, node: Tree, full: bool) -> ast.Expression:
        source_node, splat = self._subtrees(node)
        rng = self.rng(node)
        steps: list[ast.SplatStep] = []
        rest: list[ast.SplatStep] = []  # after an attribute splat, [key] applies to the result
        for step in self._subtrees(splat):
            if step.data == "get_attr":
                new = ast.SplatStep(self._attr_name(step), None)
            elif step.data == "short_index":  # legacy a.*.0: part of the splat
                key_token = step.children[1]
                new = ast.SplatStep(None, ast.Literal(self.rng(key_token), int(str(key_token))))
            else:
                (key,) = self._subtrees(step)
                new = ast.SplatStep(None, self.expr(key))
                if not full:
                    rest.append(new)
                    continue
            (rest if rest else steps).append(new)
        source = self.expr(source_node)
        if full and isinstance(source, ast.Splat) and source.full:
            # a[*].b[*]: the second splat runs on each element's b, inside the first
            steps = [*source.steps, ast.SplatStep(None, None), *steps]
            source = source.source
        result: ast.Expression = ast.Splat(rng, source, tuple(steps), full)
        for after in rest:
            if after.name is not None:
                result = ast.GetAttr(rng, result, after.name)
            elif after.key is not None:
                result = ast.Index(rng, result, after.key)
        return result

    def _x_for_tuple_expr(self, node: Tree) -> ast.Expression:
        return self._for(node, is_object=False)

    def _x_for_object_expr(self, node: Tree) -> ast.Expression:
        return self._for(node, is_object=True)

    def _for(self, node: Tree, is_object: bool) -> ast.Expression:
        intro, *rest = self._subtrees(node)
        names = [str(c.children[0]) for c in self._subtrees(intro) if c.data == "identifier"]
        collection = next(c for c in self._subtrees(intro) if c.data != "identifier")
        key_var, value_var = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        condition = None
        if rest and rest[-1].data == "for_cond":
            (cond_expr,) = self._subtrees(rest.pop())
            condition = self.expr(cond_expr)
        grouping = any(isinstance(t, Token) and t.type == "ELLIPSIS" for t in node.children)
        key_expr = self.expr(rest[0]) if is_object else None
        value_expr = self.expr(rest[-1])
        return ast.ForExpr(
            self.rng(node),
            key_var,
            value_var,
            self.expr(collection),
            key_expr,
            value_expr,
            condition,
            grouping,
        )

    # --- templates -------------------------------------------------------------------------

    def string(self, node: Tree) -> ast.Expression:
        """A quoted string: a Literal when static, else a Template."""
        flat: list = []  # TemplateText, TemplateInterp, or directive markers (tuples)
        for part in node.children:
            if not isinstance(part, Tree):
                continue  # the quotes
            (inner,) = part.children
            if isinstance(inner, Token):
                # STRING_CHARS carry escapes; the other tokens are "$${" or "%%{" escapes
                raw = str(inner)
                if "\n" in raw:  # the grammar accepts it; HCL does not
                    start = self.rng(node).start
                    end = Pos(start.line, start.column + 1, start.byte + 1)
                    raise DiagnosticError.single(
                        "Unterminated template string",
                        UNTERMINATED_DETAIL,
                        SourceRange(self.filename, start, end),
                    )
                text = self._unescape_at(raw, inner) if inner.type == "STRING_CHARS" else raw[1:]
                flat.append(ast.TemplateText(self.rng(inner), text))
            elif inner.data == "interpolation":
                (expr,) = self._subtrees(inner)
                flat.append(("interp", self.rng(inner), self.expr(expr), False, False))
            else:
                flat.append(self._directive_marker(inner))
        return self.assemble(flat, self.rng(node))

    def _unescape_at(self, text: str, token: Token) -> str:
        try:
            return _unescape(text)
        except ValueError as exc:
            raise DiagnosticError.single(
                "Invalid escape sequence", str(exc), self.rng(token)
            ) from None

    def _directive_marker(self, node: Tree) -> tuple:
        toks = [c for c in node.children if isinstance(c, Token)]
        left = len(toks) > 1 and toks[1].type == "STRIP_MARKER"
        right = len(toks) > 1 and toks[-2].type == "STRIP_MARKER"
        kind = node.data.removeprefix("template_").removesuffix("_start")
        rng = self.rng(node)
        if kind == "if":
            (cond,) = self._subtrees(node)
            return ("if", rng, self.expr(cond), left, right)
        if kind == "for":
            subs = self._subtrees(node)
            names = [str(c.children[0]) for c in subs if c.data == "identifier"]
            coll = next(c for c in subs if c.data != "identifier")
            return ("for", rng, (names, self.expr(coll)), left, right)
        return (kind, rng, None, left, right)

    def assemble(self, flat: list, whole: SourceRange) -> ast.Expression:
        """Apply strip markers, then nest if/for directives into a Template (or a Literal)."""
        # Strip markers: "~" on a marker's left trims trailing space of the text before it;
        # on its right, leading space of the text after it.
        for i, item in enumerate(flat):
            if isinstance(item, tuple):
                _kind, _rng, _payload, left, right = item
                if left and i > 0 and isinstance(flat[i - 1], ast.TemplateText):
                    prev = flat[i - 1]
                    flat[i - 1] = ast.TemplateText(prev.range, prev.text.rstrip())
                if right and i + 1 < len(flat) and isinstance(flat[i + 1], ast.TemplateText):
                    nxt = flat[i + 1]
                    flat[i + 1] = ast.TemplateText(nxt.range, nxt.text.lstrip())
        stack: list[tuple[tuple, list, list | None]] = []
        current: list[ast.TemplatePart] = []
        root = current
        for item in flat:
            if isinstance(item, ast.TemplateText):
                if not item.text.isascii():  # HCL normalises literal text to NFC
                    item = ast.TemplateText(item.range, unicodedata.normalize("NFC", item.text))
                current.append(item)
                continue
            kind, rng, payload, _l, _r = item
            if kind == "interp":
                current.append(ast.TemplateInterp(rng, payload))
            elif kind in ("if", "for"):
                stack.append((item, current, None))
                current = []
            elif kind == "else":
                if not stack or stack[-1][0][0] != "if" or stack[-1][2] is not None:
                    raise DiagnosticError.single(
                        "Unexpected else directive", "An %{else} must be inside an %{if}.", rng
                    )
                opener, outer, _ = stack.pop()
                stack.append((opener, outer, current))
                current = []
            else:  # endif / endfor
                want = "if" if kind == "endif" else "for"
                if not stack or stack[-1][0][0] != want:
                    raise DiagnosticError.single(
                        f"Unexpected {kind} directive",
                        f"There is no open %{{{want}}} for this %{{{kind}}}.",
                        rng,
                    )
                opener, outer, then_parts = stack.pop()
                o_kind, o_rng, o_payload, _, _ = opener
                full = SourceRange(self.filename, o_rng.start, rng.end)
                if o_kind == "if":
                    if then_parts is None:
                        then_parts, else_parts = current, []
                    else:
                        else_parts = current
                    outer.append(
                        ast.TemplateIf(full, o_payload, tuple(then_parts), tuple(else_parts))
                    )
                else:
                    names, coll = o_payload
                    key_var, value_var = (
                        (names[0], names[1]) if len(names) == 2 else (None, names[0])
                    )
                    outer.append(ast.TemplateFor(full, key_var, value_var, coll, tuple(current)))
                current = outer
        if stack:
            opener = stack[-1][0]
            raise DiagnosticError.single(
                f"Unterminated template {opener[0]} directive",
                f"There is no %{{end{opener[0]}}} for this %{{{opener[0]}}}.",
                opener[1],
            )
        texts = [p.text for p in root if isinstance(p, ast.TemplateText)]
        if len(texts) == len(root):
            return ast.Literal(whole, "".join(texts))
        return ast.Template(whole, tuple(root))

    def heredoc(self, node: Tree, trim: bool) -> ast.Expression:
        token = node.children[0]
        raw = str(token)
        first_nl = raw.index("\n")
        body = raw[first_nl + 1 :]
        # drop the closing marker line (and its indentation)
        body = body[: body.rstrip("\n").rfind("\n") + 1] if "\n" in body.rstrip("\n") else ""
        lines = body.splitlines(keepends=True)
        indent = 0
        if trim:  # HCL counts any Unicode space as indentation, not only spaces and tabs
            widths = [_indent_width(ln) for ln in lines if ln.strip()]
            indent = min(widths) if widths else 0
            lines = [ln[indent:] if ln.strip() else ln[_indent_width(ln) :] for ln in lines]
        start = self.rng(token).start
        flat: list = []
        for offset, line in enumerate(lines):
            self.scan_template_line(flat, line, start.line + 1 + offset, indent + 1)
        return self.assemble(_merge_texts(flat), self.rng(node))

    def scan_template_line(self, flat: list, line: str, line_no: int, col0: int) -> None:
        """Split one heredoc line into text and ``${...}`` / ``%{...}`` pieces."""
        i = 0
        text_start = 0
        buf: list[str] = []

        def here(col: int) -> SourceRange:
            pos = Pos(line_no, col0 + col, 0)
            return SourceRange(self.filename, pos, pos)

        while i < len(line):
            if line.startswith(("$${", "%%{"), i):
                buf.append(line[i + 1 : i + 3])
                i += 3
                continue
            if line.startswith(("${", "%{"), i):
                end = _matching_brace(line, i + 2)
                if end < 0:
                    raise DiagnosticError.single(
                        "Unterminated template sequence",
                        "A heredoc interpolation or directive must close on the same line.",
                        here(i),
                    )
                if buf:
                    flat.append(ast.TemplateText(here(text_start), "".join(buf)))
                    buf = []
                inner = line[i + 2 : end]
                flat.append(self._heredoc_sequence(line[i], inner, line_no, col0 + i + 2))
                i = end + 1
                text_start = i
                continue
            buf.append(line[i])
            i += 1
        if buf:
            flat.append(ast.TemplateText(here(text_start), "".join(buf)))

    def _heredoc_sequence(self, sigil: str, inner: str, line_no: int, col: int) -> tuple:
        left = inner.startswith("~")
        right = inner.endswith("~")
        content = inner[1 if left else 0 : len(inner) - 1 if right else len(inner)]
        rng = SourceRange(
            self.filename, Pos(line_no, col - 2, 0), Pos(line_no, col + len(inner) + 1, 0)
        )
        if sigil == "$":
            expr = parse_expression(content, self.filename, line_no, col + (1 if left else 0))
            return ("interp", rng, expr, left, right)
        words = content.strip().split(None, 1)
        keyword = words[0] if words else ""
        if keyword == "if" and len(words) == 2:
            return ("if", rng, parse_expression(words[1], self.filename, line_no, col), left, right)
        if keyword == "for" and len(words) == 2:
            m = re.fullmatch(
                r"([A-Za-z_][\w-]*)(?:\s*,\s*([A-Za-z_][\w-]*))?\s+in\s+(.+)", words[1], re.S
            )
            if m:
                names = [n for n in (m.group(1), m.group(2)) if n]
                coll = parse_expression(m.group(3), self.filename, line_no, col)
                return ("for", rng, (names, coll), left, right)
        if keyword in ("else", "endif", "endfor") and len(words) == 1:
            return (keyword, rng, None, left, right)
        raise DiagnosticError.single(
            "Invalid template directive", f"Unknown directive %{{{content.strip()}}}.", rng
        )


_INDENT = re.compile(r"[^\S\r\n]*")


def _indent_width(line: str) -> int:
    """Leading whitespace of a heredoc line, by Unicode's definition (no line ends)."""
    match = _INDENT.match(line)
    return match.end() if match else 0


def _merge_texts(flat: list) -> list:
    out: list = []
    for item in flat:
        if isinstance(item, ast.TemplateText) and out and isinstance(out[-1], ast.TemplateText):
            out[-1] = ast.TemplateText(out[-1].range, out[-1].text + item.text)
        else:
            out.append(item)
    return out


def _matching_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a sequence opened just before ``start``, skipping strings."""
    depth = 0
    i = start
    in_string = False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


@lru_cache(maxsize=4096)
def _unescape(text: str) -> str:
    if "\\" not in text:
        return text

    def sub(m: re.Match) -> str:
        seq = m.group(1)
        if seq[0] in "uU" and len(seq) > 1:
            code = int(seq[1:], 16)
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:  # no such character: as HCL
                raise ValueError(f"Cannot encode character U+{code:04x} in UTF-8.")
            return chr(code)
        if seq in _ESCAPES:
            return _ESCAPES[seq]
        raise ValueError(f"The escape sequence \\{seq} is not valid in a quoted string.")

    return _ESCAPE_RE.sub(sub, text)
