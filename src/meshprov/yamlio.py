"""YAML in and out, for every module that writes or reads it (artifacts, ``yamlencode``).

With libyaml's C emitter and parser when PyYAML has them (the same text as its pure-Python
ones, several times faster: writing every zone's ``prometheus-kuma-sd.yml`` in pure Python was
a second of a 1,000-zone plan), else the pure-Python ones. PyYAML is imported on first use,
not with meshprov: ``validate`` writes no YAML. Errors come out as ``YAMLError`` (a
``ValueError``) with PyYAML's message, line and problem.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Literal

StringStyle = Literal["plain", "literal", "double-quoted"]
DecimalWriter = Callable[[Decimal], tuple[str, str]]
"""A ``Decimal``'s YAML tag (``float``, ``str``...) and its text, written plain."""
FloatReader = Callable[[str, float], Any]
"""The value of a YAML float from its text and PyYAML's ``float`` of it."""


class YAMLError(ValueError):
    """Text that is not YAML: the message is PyYAML's; ``line`` is 1-based, 0 when unknown."""

    def __init__(self, message: str, problem: str, line: int):
        super().__init__(message)
        self.problem = problem
        self.line = line


@functools.cache
def _dumper(strings: StringStyle, decimals: DecimalWriter | None = None) -> Any:
    """A safe dumper class: ``literal`` writes multi-line strings (PEM) as ``|`` blocks,
    ``double-quoted`` writes every string quoted (Terraform's ``yamlencode``); ``decimals``
    writes ``Decimal`` values (PyYAML's safe dumpers refuse them)."""
    import yaml

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        pass

    def literal(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    def double_quoted(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')

    if strings == "literal":
        Dumper.add_representer(str, literal)
    elif strings == "double-quoted":
        Dumper.add_representer(str, double_quoted)
    if decimals is not None:
        writer = decimals  # bound for the closure: mypy narrows it there

        def decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.Node:
            tag, text = writer(value)
            return dumper.represent_scalar("tag:yaml.org,2002:" + tag, text)

        Dumper.add_representer(Decimal, decimal)
    return Dumper


def dump(
    document: Any,
    *,
    strings: StringStyle = "plain",
    wrap: bool = True,
    decimals: DecimalWriter | None = None,
    **options: Any,
) -> str:
    """``document`` as YAML text; ``wrap=False`` never folds a long line; ``decimals`` writes
    ``Decimal`` values; ``options`` are PyYAML's (``sort_keys``, ``allow_unicode``...)."""
    import yaml

    if not wrap:  # "no limit" is -1 to libyaml's emitter, and an infinite width to PyYAML's
        options["width"] = -1 if yaml.__with_libyaml__ else float("inf")
    text: str = yaml.dump(document, Dumper=_dumper(strings, decimals), **options)
    return text


def dump_all(documents: Iterable[Any], **options: Any) -> str:
    """Several documents, separated by ``---``."""
    import yaml

    text: str = yaml.dump_all(documents, Dumper=_dumper("plain"), **options)
    return text


def load(text: str) -> Any:
    """The one document in ``text`` (None when empty)."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        raise _error(exc) from None


def load_all(text: str, *, floats: FloatReader | None = None) -> list[Any]:
    """Every document in ``text``; ``floats`` reads YAML's floats (exceptions it raises other
    than ``YAMLError`` pass through)."""
    import yaml

    try:
        return list(yaml.load_all(text, Loader=_loader(floats)))
    except yaml.YAMLError as exc:
        raise _error(exc) from None


@functools.cache
def _loader(floats: FloatReader | None = None) -> Any:
    """A safe loader class; ``floats`` reads floats instead of PyYAML's ``float``."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if floats is None:
        return base
    reader = floats  # bound for the closure: mypy narrows it there

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    def read_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        return reader(str(loader.construct_scalar(node)), loader.construct_yaml_float(node))

    Loader.add_constructor("tag:yaml.org,2002:float", read_float)
    return Loader


def _error(exc: Exception) -> YAMLError:
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    return YAMLError(str(exc), problem, mark.line + 1 if mark is not None else 0)
