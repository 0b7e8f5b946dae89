"""Root variable values from outside the configuration, with Terraform's precedence.

Lowest first: the variable's default, ``MESHPROV_VAR_<name>`` in the environment,
``*.auto.vars.hcl`` files (lexical order), ``--var-file`` files (in order), ``--var`` (in order).
Values from the environment and ``--var`` are raw strings for primitive-typed variables and HCL
expressions otherwise, as Terraform treats ``TF_VAR_`` and ``-var``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from meshprov.config.load import _display, constant, is_utf8
from meshprov.config.model import InputValue, Module
from meshprov.diagnostics import (
    UNDECLARED_VARIABLE,
    Diagnostic,
    DiagnosticError,
    Diagnostics,
    decode_source,
    did_you_mean,
    error,
    warning,
)
from meshprov.files import read_regular_file
from meshprov.lang.types import AnyType, Primitive

ENV_PREFIX = "MESHPROV_VAR_"


@dataclass(frozen=True)
class VariableInputs:
    values: dict[str, InputValue]
    warnings: list[Diagnostic]


def collect_inputs(
    root: Module,
    directory: Path,
    var_files: Sequence[Path] = (),
    cli_vars: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> VariableInputs:
    diags = Diagnostics()
    values: dict[str, InputValue] = {}
    env = environ if environ is not None else {}
    for key, raw in sorted(env.items()):
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :]
            if name in root.variables:
                values[name] = InputValue(
                    _raw_or_expression(root, name, raw, f"environment variable {key}"),
                    f"the environment ({key})",
                )
    auto = sorted(p for p in directory.glob("*.auto.vars.hcl"))
    # a --var-file may be a pipe (<(vault read ...)), as in Terraform; a file found in the
    # directory must be a regular file, or a stray FIFO there would hang every command
    for path in auto:
        values.update(_read_var_file(root, path, read_regular_file, diags))
    for path in var_files:
        values.update(_read_var_file(root, path, Path.read_bytes, diags))
    for item in cli_vars:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            diags.add(
                error(
                    "Invalid --var option",
                    f'The given --var option "{item}" is not correctly specified: it must be a '
                    "variable name and value separated by an equals sign, like --var key=value.",
                )
            )
            continue
        if name not in root.variables:
            diags.add(
                error(
                    "Value for undeclared variable",
                    f'A variable named "{name}" was assigned on the command line, but the root '
                    "module "
                    "does not declare a variable of that name."
                    + did_you_mean(name, list(root.variables)),
                )
            )
            continue
        try:
            values[name] = InputValue(
                _raw_or_expression(root, name, raw, "--var"), "the command line (--var)"
            )
        except DiagnosticError as exc:
            diags.extend(exc.diagnostics)
    diags.raise_if_errors()
    return VariableInputs(values, [d for d in diags if d.severity == "warning"])


def _raw_or_expression(root: Module, name: str, raw: str, what: str) -> object:
    if not is_utf8(raw):
        raise DiagnosticError.single(
            "Invalid value for variable",
            f"The value for var.{name} from {what} is not valid UTF-8.",
        )
    # Terraform's rule: a primitive or unconstrained (any) variable takes the text as a string
    if isinstance(root.variables[name].type, Primitive | AnyType):
        return raw
    from meshprov.lang.parse import parse_expression  # python-hcl2: only for a value given

    expr = parse_expression(raw, f"<value for var.{name} from {what}>")
    return constant(expr, f"the value of var.{name}")


def _read_var_file(
    root: Module, path: Path, read: Callable[[Path], bytes], diags: Diagnostics
) -> dict[str, InputValue]:
    try:
        text = decode_source(read(path), _display(path))
    except DiagnosticError as exc:
        diags.extend(exc.diagnostics)
        return {}
    except FileNotFoundError:
        diags.add(
            error("Failed to read variables file", f"The file {_display(path)} does not exist.")
        )
        return {}
    except OSError as exc:
        diags.add(error("Failed to read variables file", f"{_display(path)}: {exc.strerror}"))
        return {}
    try:
        from meshprov.lang.parse import parse_file  # python-hcl2: only for a file given

        file = parse_file(text, _display(path))
    except DiagnosticError as exc:
        diags.extend(exc.diagnostics)
        return {}
    out: dict[str, InputValue] = {}
    for block in file.body.blocks:
        diags.add(
            error(
                "Unexpected block in variables file",
                "A variables file contains only name = value assignments.",
                block.type_range,
            )
        )
    for name, attr in file.body.attributes.items():
        if name not in root.variables:
            diags.add(
                warning(
                    "Value for undeclared variable",
                    f'The root module does not declare a variable named "{name}" but a value was '
                    "found in this file." + did_you_mean(name, list(root.variables)),
                    attr.name_range,
                    code=UNDECLARED_VARIABLE,
                )
            )
            continue
        try:
            out[name] = InputValue(
                constant(attr.expr, "a variables file"), path.name, attr.expr.range
            )
        except DiagnosticError as exc:
            diags.extend(exc.diagnostics)
    return out
