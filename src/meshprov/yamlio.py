"""YAML in and out, for every module that writes or reads it (artifacts, ``yamlencode``).

With libyaml's C emitter and parser when PyYAML has them (the same text as its pure-Python
ones, several times faster: writing every zone's ``prometheus-kuma-sd.yml`` in pure Python was
a second of a 1,000-zone plan), else the pure-Python ones. PyYAML is imported on first use,
not with meshprov: ``validate`` writes no YAML. Errors come out as ``YAMLError`` (a
``ValueError``) with PyYAML's message, line and problem.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Literal

StringStyle = Literal["plain", "literal", "double-quoted"]


class YAMLError(ValueError):
    """Text that is not YAML: the message is PyYAML's; ``line`` is 1-based, 0 when unknown."""

    def __init__(self, message: str, problem: str, line: int):
        super().__init__(message)
        self.problem = problem
        self.line = line


@functools.cache
def _dumper(strings: StringStyle) -> Any:
    """A safe dumper class: ``literal`` writes multi-line strings (PEM) as ``|`` blocks,
    ``double-quoted`` writes every string quoted (Terraform's ``yamlencode``)."""
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
    return Dumper


def dump(
    document: Any, *, strings: StringStyle = "plain", wrap: bool = True, **options: Any
) -> str:
    """``document`` as YAML text; ``wrap=False`` never folds a long line; ``options`` are
    PyYAML's (``sort_keys``, ``allow_unicode``...)."""
    import yaml

    if not wrap:  # "no limit" is -1 to libyaml's emitter, and an infinite width to PyYAML's
        options["width"] = -1 if yaml.__with_libyaml__ else float("inf")
    text: str = yaml.dump(document, Dumper=_dumper(strings), **options)
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
        return yaml.load(text, Loader=_loader(yaml))
    except yaml.YAMLError as exc:
        raise _error(exc) from None


def load_all(text: str) -> list[Any]:
    """Every document in ``text``."""
    import yaml

    try:
        return list(yaml.load_all(text, Loader=_loader(yaml)))
    except yaml.YAMLError as exc:
        raise _error(exc) from None


def _loader(yaml: Any) -> Any:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _error(exc: Exception) -> YAMLError:
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    return YAMLError(str(exc), problem, mark.line + 1 if mark is not None else 0)
