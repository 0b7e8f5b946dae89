"""Loading a configuration directory and its module tree into ``config.model`` objects.

Every ``*.hcl`` file of a directory (not ``*.vars.hcl``) is parsed once. Blocks are checked
against their schemas here: unknown blocks and attributes (with a "Did you mean" hint), missing
required attributes, bad labels, duplicates, and module calls that do not match the module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from meshprov.config.model import (
    NO_DEFAULT,
    Backend,
    Encryption,
    Lifecycle,
    Local,
    Module,
    ModuleCall,
    Moved,
    Output,
    Provider,
    Repetition,
    Resource,
    Settings,
    Validation,
    Variable,
)
from meshprov.diagnostics import (
    DiagnosticError,
    Diagnostics,
    SourceRange,
    decode_source,
    did_you_mean,
    error,
)
from meshprov.files import read_regular_file
from meshprov.lang import ast
from meshprov.lang.evaluate import EvalContext, evaluate
from meshprov.lang.parse_cache import parse_file_cached
from meshprov.lang.traversals import Traversal, traversals
from meshprov.lang.types import ANY, ConversionError, convert, parse_type
from meshprov.providers import PROVIDERS
from meshprov.resources import SCHEMAS

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_META_ARGS = ("count", "for_each", "depends_on")
_BLOCK_LABELS = {  # top-level block type → number of labels; resource types take one
    "meshprov": 0,
    "provider": 1,
    "variable": 1,
    "locals": 0,
    "output": 1,
    "module": 1,
    "moved": 0,
}
_RESERVED_VARIABLE_NAMES = {"source", "count", "for_each", "depends_on", "lifecycle", "providers"}
_BACKEND_ATTRIBUTES = {
    "local": ("path",),
    "s3": ("bucket", "key", "region", "endpoint_url", "profile", "encrypt", "kms_key_id"),
}


def config_files(directory: Path) -> list[Path]:
    """The configuration files of a directory: ``*.hcl`` except ``*.vars.hcl``, sorted."""
    return sorted(p for p in directory.glob("*.hcl") if not p.name.endswith(".vars.hcl"))


def load_config(directory: Path) -> Module:
    """Load the root module in ``directory`` and every module it calls."""
    return _Loader().load(directory.resolve(), None, ())


def constant(expr: ast.Expression, what: str) -> Any:
    """Evaluate an expression that may not reference anything (defaults, sources, lifecycle)."""
    refs = traversals(expr)
    if refs:
        raise DiagnosticError.single(
            "Variables not allowed", f"Variables may not be used here ({what}).", refs[0].range
        )
    return evaluate(expr, EvalContext({}))


class _Loader:
    def __init__(self) -> None:
        self.cache: dict[Path, Module] = {}

    def load(
        self, directory: Path, call_range: SourceRange | None, stack: tuple[Path, ...]
    ) -> Module:
        if directory in stack:
            chain = " → ".join(_display(p) for p in (*stack, directory))
            raise DiagnosticError.single(
                "Module calls itself", f"The module tree contains a loop: {chain}.", call_range
            )
        if directory in self.cache:
            return self.cache[directory]
        if not directory.is_dir():
            raise DiagnosticError.single(
                "Module not found" if call_range else "No configuration directory",
                f"The directory {_display(directory)} does not exist.",
                call_range,
            )
        files = config_files(directory)
        if not files:
            raise DiagnosticError.single(
                "No configuration files",
                f"The directory {_display(directory)} contains no *.hcl configuration files.",
                call_range,
            )
        diags = Diagnostics()
        parsed: list[ast.File] = []
        for path in files:
            if not is_utf8(path.name):  # the digest and plan files name every file in UTF-8
                diags.add(
                    error(
                        "Invalid file name",
                        f"{_display(path)}: a configuration file name must be UTF-8 encoded.",
                    )
                )
                continue
            try:
                text = decode_source(read_regular_file(path), _display(path))
            except OSError as exc:
                diags.add(
                    error("Cannot read configuration file", f"{_display(path)}: {exc.strerror}")
                )
                continue
            except DiagnosticError as exc:
                diags.extend(exc.diagnostics)
                continue
            try:
                parsed.append(parse_file_cached(path, text, _display(path)))
            except DiagnosticError as exc:
                diags.extend(exc.diagnostics)
        diags.raise_if_errors()
        module = _ModuleBuilder(directory, self, (*stack, directory), diags).build(parsed)
        diags.raise_if_errors()
        self.cache[directory] = module
        return module


def is_utf8(text: str) -> bool:
    """Whether ``text`` (a file name, an argument, an environment variable) was UTF-8: Python
    keeps other bytes as lone surrogates, which no UTF-8 output can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _display(path: Path) -> str:
    """File names in diagnostics are relative to the working directory when possible."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _ModuleBuilder:
    def __init__(
        self, directory: Path, loader: _Loader, stack: tuple[Path, ...], diags: Diagnostics
    ):
        self.directory = directory
        self.loader = loader
        self.stack = stack
        self.diags = diags
        self.module = Module(path=directory)
        self.first_seen: dict[str, SourceRange] = {}

    def build(self, files: list[ast.File]) -> Module:
        settings = Settings()
        for file in files:
            for name, attr in file.body.attributes.items():
                self.diags.add(
                    error(
                        "Unsupported argument",
                        f'An argument named "{name}" is not expected at the top level of a '
                        "configuration file; arguments belong inside blocks.",
                        attr.name_range,
                    )
                )
            for block in file.body.blocks:
                try:
                    settings = self._top_level_block(block, settings)
                except DiagnosticError as exc:
                    self.diags.extend(exc.diagnostics)
        return Module(
            path=self.module.path,
            variables=self.module.variables,
            locals=self.module.locals,
            outputs=self.module.outputs,
            module_calls=self.module.module_calls,
            resources=self.module.resources,
            providers=self.module.providers,
            moved=self.module.moved,
            settings=settings,
            files=tuple(f.filename for f in files),
        )

    # --- helpers ---------------------------------------------------------------------------

    def _labels(self, block: ast.Block, count: int, what: str) -> None:
        if len(block.labels) != count:
            rng = block.label_ranges[count] if len(block.labels) > count else block.type_range
            names = {0: "no labels", 1: "one label (its name)", 2: "two labels"}[count]
            raise DiagnosticError.single(
                f"Wrong number of labels for {what} block",
                f'A "{block.type}" block takes {names}, but {len(block.labels)} given.',
                rng,
            )
        for label, rng in zip(block.labels, block.label_ranges, strict=True):
            if not _NAME_RE.match(label):
                raise DiagnosticError.single(
                    "Invalid name",
                    f'"{label}" is not a valid name: a name must start with a letter or '
                    "underscore and may contain only letters, digits, underscores, and dashes.",
                    rng,
                )

    def _unique(self, key: str, what: str, rng: SourceRange) -> None:
        if key in self.first_seen:
            first = self.first_seen[key]
            raise DiagnosticError.single(
                f"Duplicate {what}",
                f"{key} was already declared at {first.filename}:{first.start.line}. Names must "
                "be unique within a module.",
                rng,
            )
        self.first_seen[key] = rng

    def _check_body(
        self,
        body: ast.Body,
        attrs: tuple[str, ...] | list[str],
        blocks: tuple[str, ...] = (),
        context: str = "",
        required: tuple[str, ...] = (),
        block_range: SourceRange | None = None,
    ) -> None:
        for name, attr in body.attributes.items():
            if name not in attrs:
                where = f" in {context}" if context else ""
                if name in blocks:
                    detail = f'"{name}" is a block, not an argument: write {name} {{ ... }}'
                else:
                    detail = f'An argument named "{name}" is not expected here{where}.' + (
                        did_you_mean(name, [*attrs])
                    )
                self.diags.add(error("Unsupported argument", detail, attr.name_range))
        for block in body.blocks:
            if block.type not in blocks:
                if block.type in attrs:
                    detail = f'"{block.type}" is an argument, not a block: write {block.type} = ...'
                else:
                    detail = f'Blocks of type "{block.type}" are not expected here.' + did_you_mean(
                        block.type, [*blocks]
                    )
                self.diags.add(error("Unsupported block type", detail, block.type_range))
        for name in required:
            if name not in body.attributes:
                self.diags.add(
                    error(
                        "Missing required argument",
                        f'The argument "{name}" is required, but no definition was found.',
                        block_range,
                        context,
                    )
                )

    def _bool(self, attr: ast.Attribute | None, default: bool, what: str) -> bool:
        if attr is None:
            return default
        value = constant(attr.expr, what)
        if not isinstance(value, bool):
            raise DiagnosticError.single(
                "Incorrect value type",
                f'The "{attr.name}" argument must be true or false.',
                attr.expr.range,
            )
        return value

    def _string(self, attr: ast.Attribute | None, what: str) -> str:
        if attr is None:
            return ""
        value = constant(attr.expr, what)
        if not isinstance(value, str):
            raise DiagnosticError.single(
                "Incorrect value type",
                f'The "{attr.name}" argument must be a string.',
                attr.expr.range,
            )
        return value

    def _depends_on(self, attr: ast.Attribute | None) -> tuple[Traversal, ...]:
        if attr is None:
            return ()
        if not isinstance(attr.expr, ast.TupleExpr):
            raise DiagnosticError.single(
                "Invalid depends_on",
                "depends_on must be a list of references, e.g. [zone.eu].",
                attr.expr.range,
            )
        refs = []
        for item in attr.expr.items:
            found = traversals(item)
            if len(found) != 1 or not isinstance(item, ast.GetAttr | ast.Index | ast.Name):
                raise DiagnosticError.single(
                    "Invalid depends_on",
                    "Each depends_on item must be a reference to a resource or module, such as "
                    "zone.eu or module.zones.",
                    item.range,
                )
            ref = found[0]
            if ref.root not in (*SCHEMAS, "module") or not ref.steps:
                raise DiagnosticError.single(
                    "Invalid depends_on",
                    "depends_on may only refer to resources (e.g. zone.eu) and modules "
                    "(e.g. module.zones).",
                    item.range,
                )
            refs.append(ref)
        return tuple(refs)

    def _repetition(self, body: ast.Body) -> Repetition:
        count = body.attributes.get("count")
        for_each = body.attributes.get("for_each")
        if count is not None and for_each is not None:
            raise DiagnosticError.single(
                'Invalid combination of "count" and "for_each"',
                'The "count" and "for_each" meta-arguments are mutually-exclusive; only one may '
                "be used to be explicit about the number of instances.",
                for_each.name_range,
            )
        return Repetition(count=count, for_each=for_each)

    # --- blocks ----------------------------------------------------------------------------

    def _top_level_block(self, block: ast.Block, settings: Settings) -> Settings:
        labels = _BLOCK_LABELS.get(block.type, 1 if block.type in SCHEMAS else None)
        if labels is None:
            raise DiagnosticError.single(
                "Unsupported block type",
                f'Blocks of type "{block.type}" are not expected here.'
                + did_you_mean(block.type, [*_BLOCK_LABELS, *SCHEMAS]),
                block.type_range,
            )
        self._labels(block, labels, f'a "{block.type}"')
        handler = getattr(self, f"_block_{block.type}", None)
        if handler is None:
            self._resource(block)
            return settings
        if block.type == "meshprov":
            return self._block_meshprov(block, settings)
        handler(block)
        return settings

    def _block_moved(self, block: ast.Block) -> None:
        if len(self.stack) > 1:
            raise DiagnosticError.single(
                "Moved block in a module",
                "meshprov reads moved blocks in the root module only: write the addresses "
                'from there, e.g. module.zones["eu"].zone.this.',
                block.type_range,
            )
        self._check_body(block.body, ("from", "to"), (), "moved", ("from", "to"), block.range)
        body = block.body
        if "from" in body.attributes and "to" in body.attributes:
            self.module.moved.append(
                Moved(
                    _address_text(body.attributes["from"].expr),
                    _address_text(body.attributes["to"].expr),
                    block.range,
                )
            )

    def _block_meshprov(self, block: ast.Block, settings: Settings) -> Settings:
        if len(self.stack) > 1:
            raise DiagnosticError.single(
                "Settings block in a module",
                "The meshprov block (backend, encryption) belongs to the root module only.",
                block.type_range,
            )
        if settings != Settings():
            raise DiagnosticError.single(
                "Duplicate meshprov block",
                "Only one meshprov settings block is allowed.",
                block.type_range,
            )
        self._check_body(block.body, ("required_version",), ("backend", "encryption"), "meshprov")
        backends = block.body.blocks_of("backend")
        backend = None
        if len(backends) > 1:
            raise DiagnosticError.single(
                "Duplicate backend", "Only one backend block is allowed.", backends[1].type_range
            )
        if backends:
            b = backends[0]
            self._labels(b, 1, "a backend")
            if b.labels[0] not in _BACKEND_ATTRIBUTES:
                raise DiagnosticError.single(
                    "Unsupported backend type",
                    f'There is no backend type named "{b.labels[0]}". Use "local" or "s3".'
                    + did_you_mean(b.labels[0], list(_BACKEND_ATTRIBUTES)),
                    b.label_ranges[0],
                )
            required = ("bucket", "key") if b.labels[0] == "s3" else ()
            self._check_body(
                b.body,
                _BACKEND_ATTRIBUTES[b.labels[0]],
                (),
                f'backend "{b.labels[0]}"',
                required,
                b.range,
            )
            for attr in b.body.attributes.values():
                constant(attr.expr, "backend settings")
            backend = Backend(b.labels[0], dict(b.body.attributes), b.range)
        encryption = None
        for enc in block.body.blocks_of("encryption"):
            self._labels(enc, 0, "an encryption")
            self._check_body(
                enc.body,
                ("passphrase_env", "fallback_passphrase_env"),
                (),
                "encryption",
                ("passphrase_env",),
                enc.range,
            )
            encryption = Encryption(dict(enc.body.attributes), enc.range)
        return Settings(block.body.attributes.get("required_version"), backend, encryption)

    def _block_provider(self, block: ast.Block) -> None:
        name = block.labels[0]
        provider = PROVIDERS.get(name)
        if provider is None:
            known = ", ".join(f'"{n}"' for n in PROVIDERS)
            which = (
                f"the only provider is {known}" if len(PROVIDERS) == 1 else f"providers: {known}"
            )
            raise DiagnosticError.single(
                "Unsupported provider",
                f'meshprov has no provider "{name}"; {which}.',
                block.label_ranges[0],
            )
        self._unique(f"provider.{name}", "provider configuration", block.range)
        self._check_body(block.body, provider.arguments, (), f'provider "{name}"')
        self.module.providers[name] = Provider(name, dict(block.body.attributes), block.range)

    def _block_variable(self, block: ast.Block) -> None:
        name = block.labels[0]
        if name in _RESERVED_VARIABLE_NAMES:
            raise DiagnosticError.single(
                "Invalid variable name",
                f'The variable name "{name}" is reserved for a meta-argument of module blocks.',
                block.label_ranges[0],
            )
        self._unique(f"var.{name}", "variable declaration", block.range)
        body = block.body
        self._check_body(
            body,
            ("type", "default", "description", "sensitive", "nullable"),
            ("validation",),
            f'variable "{name}"',
        )
        type_ = parse_type(body.attributes["type"].expr) if "type" in body.attributes else ANY
        default = NO_DEFAULT
        if "default" in body.attributes:
            raw = constant(body.attributes["default"].expr, "variable default")
            try:
                default = convert(raw, type_) if raw is not None else None
            except ConversionError as exc:
                raise DiagnosticError.single(
                    "Invalid default value for variable",
                    "This default value is not compatible with the variable's type constraint: "
                    f"{exc}.",
                    body.attributes["default"].expr.range,
                ) from None
        validations = []
        for vblock in body.blocks_of("validation"):
            self._labels(vblock, 0, "a validation")
            self._check_body(
                vblock.body,
                ("condition", "error_message"),
                (),
                "validation",
                ("condition", "error_message"),
                vblock.range,
            )
            if "condition" in vblock.body.attributes and "error_message" in vblock.body.attributes:
                cond = vblock.body.attributes["condition"].expr
                others = [
                    t for t in traversals(cond) if not (t.root == "var" and t.steps[:1] == (name,))
                ]
                if others:
                    raise DiagnosticError.single(
                        "Invalid variable validation condition",
                        f'The condition for variable "{name}" may only refer to var.{name}.',
                        others[0].range,
                    )
                validations.append(
                    Validation(cond, vblock.body.attributes["error_message"].expr, vblock.range)
                )
        self.module.variables[name] = Variable(
            name=name,
            type=type_,
            default=default,
            description=self._string(body.attributes.get("description"), "description"),
            sensitive=self._bool(body.attributes.get("sensitive"), False, "sensitive"),
            nullable=self._bool(body.attributes.get("nullable"), True, "nullable"),
            validations=tuple(validations),
            range=block.range,
        )

    def _block_locals(self, block: ast.Block) -> None:
        for sub in block.body.blocks:
            self.diags.add(
                error(
                    "Unsupported block type",
                    "The locals block takes only name = value arguments.",
                    sub.type_range,
                )
            )
        for name, attr in block.body.attributes.items():
            self._unique(f"local.{name}", "local value", attr.name_range)
            self.module.locals[name] = Local(name, attr.expr, attr.range)

    def _block_output(self, block: ast.Block) -> None:
        name = block.labels[0]
        self._unique(f"output.{name}", "output", block.range)
        body = block.body
        self._check_body(
            body,
            ("value", "description", "sensitive", "depends_on"),
            (),
            f'output "{name}"',
            ("value",),
            block.range,
        )
        if "value" not in body.attributes:
            return
        self.module.outputs[name] = Output(
            name=name,
            expr=body.attributes["value"].expr,
            description=self._string(body.attributes.get("description"), "description"),
            sensitive=self._bool(body.attributes.get("sensitive"), False, "sensitive"),
            depends_on=self._depends_on(body.attributes.get("depends_on")),
            range=block.range,
        )

    def _block_module(self, block: ast.Block) -> None:
        name = block.labels[0]
        self._unique(f"module.{name}", "module call", block.range)
        body = block.body
        for sub in body.blocks:
            self.diags.add(
                error(
                    "Unsupported block type",
                    f'Blocks of type "{sub.type}" are not expected in a module block.',
                    sub.type_range,
                )
            )
        source_attr = body.attributes.get("source")
        if source_attr is None:
            raise DiagnosticError.single(
                "Missing required argument",
                'The argument "source" is required, but no definition was found.',
                block.range,
                f'module "{name}"',
            )
        source = self._string(source_attr, "module source")
        if "\0" in source:
            raise DiagnosticError.single(
                "Invalid module source",
                "The module source contains a NUL character, which no directory name can hold.",
                source_attr.expr.range,
            )
        if not source.startswith(("./", "../")):
            raise DiagnosticError.single(
                "Invalid module source",
                f'"{source}" is not a local path. Module sources must be local directories '
                'starting with "./" or "../".',
                source_attr.expr.range,
            )
        child = self.loader.load(
            (self.directory / source).resolve(), source_attr.expr.range, self.stack
        )
        inputs = {k: v for k, v in body.attributes.items() if k not in ("source", *_META_ARGS)}
        for key, attr in inputs.items():
            if key not in child.variables:
                self.diags.add(
                    error(
                        "Unsupported argument",
                        f'An argument named "{key}" is not expected here: module "{name}" '
                        "declares no "
                        f'variable "{key}".' + did_you_mean(key, list(child.variables)),
                        attr.name_range,
                    )
                )
        for var in child.variables.values():
            if var.required and var.name not in inputs:
                self.diags.add(
                    error(
                        "Missing required argument",
                        f'The argument "{var.name}" is required by module "{name}" ({source}), '
                        "but no "
                        "definition was found.",
                        block.range,
                    )
                )
        self.module.module_calls[name] = ModuleCall(
            name=name,
            source=source,
            inputs=inputs,
            repetition=self._repetition(body),
            depends_on=self._depends_on(body.attributes.get("depends_on")),
            range=block.range,
            module=child,
        )

    def _resource(self, block: ast.Block) -> None:
        schema = SCHEMAS[block.type]
        name = block.labels[0]
        key = f"{block.type}.{name}"
        self._unique(key, f'{block.type} "{name}" configuration', block.range)
        body = block.body
        context = f'{block.type} "{name}"'
        nested = {b.name: b for b in schema.blocks}
        required = tuple(
            a.name
            for a in schema.attributes
            if a.required or (a.required_unless and a.required_unless not in body.attributes)
        )
        self._check_body(
            body,
            (*(a for a in schema.attribute_names if a not in nested), *_META_ARGS),
            ("lifecycle", *nested),
            context,
            required,
            block.range,
        )
        blocks = {}
        for kind, spec in nested.items():
            found = body.blocks_of(kind)
            if len(found) > 1:
                first = found[0].range
                raise DiagnosticError.single(
                    f'Duplicate "{kind}" block',
                    f'{context} takes at most one "{kind}" block; the first is at '
                    f"{first.filename}:{first.start.line}.",
                    found[1].type_range,
                )
            if found:
                self._labels(found[0], 0, f'a "{kind}"')
                self._check_body(
                    found[0].body,
                    [a.name for a in spec.block or ()],
                    (),
                    f"{context} {kind}",
                    tuple(a.name for a in spec.block or () if a.required),
                    found[0].range,
                )
                blocks[kind] = found[0]
        lifecycle = Lifecycle()
        for lblock in body.blocks_of("lifecycle"):
            self._labels(lblock, 0, "a lifecycle")
            self._check_body(lblock.body, ("prevent_destroy", "ignore_changes"), (), "lifecycle")
            lifecycle = Lifecycle(
                prevent_destroy=self._bool(
                    lblock.body.attributes.get("prevent_destroy"), False, "lifecycle"
                ),
                ignore_changes=self._ignore_changes(
                    lblock.body.attributes.get("ignore_changes"), schema.attribute_names
                ),
            )
        attributes = {k: v for k, v in body.attributes.items() if k not in _META_ARGS}
        self.module.resources[key] = Resource(
            type=block.type,
            name=name,
            schema=schema,
            attributes=attributes,
            blocks=blocks,
            repetition=self._repetition(body),
            depends_on=self._depends_on(body.attributes.get("depends_on")),
            lifecycle=lifecycle,
            range=block.range,
        )

    def _ignore_changes(self, attr: ast.Attribute | None, names: list[str]) -> tuple[str, ...]:
        if attr is None:
            return ()
        expr = attr.expr
        if isinstance(expr, ast.Name) and expr.name == "all":
            return tuple(names)
        if not isinstance(expr, ast.TupleExpr):
            raise DiagnosticError.single(
                "Invalid ignore_changes",
                'ignore_changes must be a list of attribute names, or the keyword "all".',
                expr.range,
            )
        out = []
        for item in expr.items:
            if not isinstance(item, ast.Name):
                raise DiagnosticError.single(
                    "Invalid ignore_changes", "Each item must be a bare attribute name.", item.range
                )
            if item.name not in names:
                raise DiagnosticError.single(
                    "Unsupported attribute in ignore_changes",
                    f'This resource type has no argument named "{item.name}".'
                    + did_you_mean(item.name, names),
                    item.range,
                )
            out.append(item.name)
        return tuple(out)


def _address_text(expr: ast.Expression) -> str:
    """A moved block's address as text: ``module.z["a"].zone.this`` (names and constant keys)."""
    parts: list[str] = []
    node = expr
    while True:
        if isinstance(node, ast.GetAttr):
            parts.append("." + node.name)
            node = node.source
        elif (
            isinstance(node, ast.Index)
            and isinstance(node.key, ast.Literal)
            and isinstance(node.key.value, str | int)
            and not isinstance(node.key.value, bool)
        ):
            parts.append(f"[{json.dumps(node.key.value)}]")
            node = node.source
        elif isinstance(node, ast.Name):
            return node.name + "".join(reversed(parts))
        else:
            raise DiagnosticError.single(
                "Invalid address",
                "A moved block's from and to are addresses of a resource, a resource instance "
                'or a module call, e.g. zone.eu, zone.z["eu"] or module.zones["eu"].',
                expr.range,
            )
