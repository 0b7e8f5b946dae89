"""The configuration model: a module's blocks, checked against their schemas, not yet evaluated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshprov.diagnostics import SourceRange
from meshprov.lang import ast
from meshprov.lang.traversals import Traversal
from meshprov.lang.types import Type
from meshprov.resources.schema import ResourceSchema

NO_DEFAULT = object()  # a variable without a default is required


@dataclass(frozen=True)
class Validation:
    condition: ast.Expression
    error_message: ast.Expression
    range: SourceRange


@dataclass(frozen=True)
class Variable:
    name: str
    type: Type
    default: Any  # NO_DEFAULT when required
    description: str
    sensitive: bool
    nullable: bool
    validations: tuple[Validation, ...]
    range: SourceRange

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT


@dataclass(frozen=True)
class Local:
    name: str
    expr: ast.Expression
    range: SourceRange


@dataclass(frozen=True)
class Output:
    name: str
    expr: ast.Expression
    description: str
    sensitive: bool
    depends_on: tuple[Traversal, ...]
    range: SourceRange


@dataclass(frozen=True)
class Lifecycle:
    prevent_destroy: bool = False
    ignore_changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Repetition:
    """A block's ``count`` or ``for_each`` (at most one of them)."""

    count: ast.Attribute | None = None
    for_each: ast.Attribute | None = None


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    schema: ResourceSchema
    attributes: dict[str, ast.Attribute]
    repetition: Repetition
    depends_on: tuple[Traversal, ...]
    lifecycle: Lifecycle
    range: SourceRange
    blocks: dict[str, ast.Block] = field(default_factory=dict)  # nested blocks, by type

    @property
    def expressions(self) -> list[ast.Expression]:
        """Every argument's expression, those inside nested blocks included."""
        return [
            *(a.expr for a in self.attributes.values()),
            *(a.expr for b in self.blocks.values() for a in b.body.attributes.values()),
        ]

    @property
    def key(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class ModuleCall:
    name: str
    source: str
    inputs: dict[str, ast.Attribute]
    repetition: Repetition
    depends_on: tuple[Traversal, ...]
    range: SourceRange
    module: Module


@dataclass(frozen=True)
class Provider:
    type: str
    attributes: dict[str, ast.Attribute]
    range: SourceRange


@dataclass(frozen=True)
class Backend:
    type: str  # "local" or "s3"
    attributes: dict[str, ast.Attribute]
    range: SourceRange


@dataclass(frozen=True)
class Encryption:
    attributes: dict[str, ast.Attribute]
    range: SourceRange


@dataclass(frozen=True)
class Settings:
    required_version: ast.Attribute | None = None
    backend: Backend | None = None
    encryption: Encryption | None = None


@dataclass(frozen=True)
class Module:
    """One directory of configuration: the root module or one loaded by a ``module`` block."""

    path: Path
    variables: dict[str, Variable] = field(default_factory=dict)
    locals: dict[str, Local] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    module_calls: dict[str, ModuleCall] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)  # keyed "type.name"
    providers: dict[str, Provider] = field(default_factory=dict)
    moved: list[Moved] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Moved:
    """A ``moved`` block: the state entry at ``source`` (a resource, an instance or a module
    call) is now at ``target``. Addresses are text, as written: ``module.z["a"].zone.this``."""

    source: str
    target: str
    range: SourceRange


@dataclass(frozen=True)
class InputValue:
    """A root variable's value from outside the configuration, and where it came from."""

    value: Any
    source: str  # e.g. "--var", "the environment", "prod.vars.hcl"
    range: SourceRange | None = None
