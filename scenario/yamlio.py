"""YAML reading with duplicate-key detection, line numbers and ``extends``."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import yaml

from scenario.errors import ScenarioError
from scenario.textrules import printable, text_problem

__all__ = [
    "read_yaml",
    "read_text",
    "read_scenario_tree",
    "lists_as_tuples",
    "display_path",
    "is_file",
    "is_dir",
    "exists",
    "MAX_YAML_BYTES",
]


MAX_YAML_BYTES = 5_000_000  # a scenario file is a page or two; anything larger is not a scenario
MAX_YAML_DEPTH = 50  # the schema nests 6 levels; deeper nesting is an attack or an accident


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting and rejects duplicate mapping keys.

    YAML silently keeps the last of two equal keys. Aliases (``*name``) are refused
    outright: a scenario has no need for them (``extends`` shares values between
    files) and nested aliases expand exponentially (the "billion laughs").
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"alias *{event.anchor} is not allowed in scenario files; write the value out "
                f"(or share values between files with 'extends')",
                event.start_mark,
            )
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nesting deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark
            )
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, found a {type(key).__name__}", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 (PyYAML) reads 1e9 as text; YAML 1.2 and every planner read it as a number. Exponents without a
# decimal point are numbers here too (1.0e+9 and 1000000000 already were).
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)

# Plain scalars that YAML 1.1 (PyYAML) and YAML 1.2 read differently: ``010`` is 8 in 1.1 and 10 in 1.2,
# ``1:30`` is 90 (base 60) in 1.1 and text in 1.2, ``0b11`` is 3 in 1.1 and text in 1.2. Neither reading
# is safe to guess, so they are refused with what to write instead. Checked before PyYAML's own resolvers.
_AMBIGUOUS = "tag:gridplan:yaml-1.1-only"
_AMBIGUOUS_NUMBER = re.compile(r"^(?:[-+]?0[0-9_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|[-+]?0b[01_]+)$")
_StrictLoader.yaml_implicit_resolvers = {
    first: ([(_AMBIGUOUS, _AMBIGUOUS_NUMBER)] if first in "-+0123456789" else []) + list(resolvers)
    for first, resolvers in _StrictLoader.yaml_implicit_resolvers.items()
}


def _refuse_ambiguous(loader: _StrictLoader, node: yaml.ScalarNode) -> None:
    text = node.value
    if ":" in text:
        why = "is a base-60 number in YAML 1.1 and text in YAML 1.2; write the number you mean (1.5 for an "
        why += "hour and a half)"
    elif "b" in text:
        why = "is a binary number in YAML 1.1 and text in YAML 1.2; write it in decimal"
    else:
        why = "has a leading zero: octal in YAML 1.1, decimal in YAML 1.2; write it without the zero"
    raise yaml.constructor.ConstructorError(None, None, f"{text} {why} (or quote it if it is text)", node.start_mark)


_StrictLoader.add_constructor(_AMBIGUOUS, _refuse_ambiguous)


def read_text(path: Path, error: type[Exception] = ScenarioError, max_bytes: int | None = None) -> str:
    """Read a UTF-8 text file (a UTF-8 byte-order mark is accepted and dropped).

    Raises:
        error: one line naming the file when it is absent, unreadable, larger than
            ``max_bytes``, or not UTF-8 (with the byte offset of the first bad byte).
    """
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise error(f"{display_path(path)}: file is larger than {max_bytes:,} bytes; not a plausible scenario file")
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{display_path(path)}: cannot read the file ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{display_path(path)}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte offset {exc.start}); "
            "save the file as UTF-8"
        ) from None


def _looks(check: Callable[[Path], bool], path: Path) -> bool:
    """``check(path)``, False where the system cannot even look (a name too long, a loop of links)."""
    try:
        return check(path)
    except OSError:
        return False


def is_file(path: Path) -> bool:
    """``path.is_file()``, False where the system cannot look (``_looks``)."""
    return _looks(Path.is_file, path)


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where the system cannot look (``_looks``)."""
    return _looks(Path.is_dir, path)


def exists(path: Path) -> bool:
    """``path.exists()``, False where the system cannot look (``_looks``)."""
    return _looks(Path.exists, path)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; raise ScenarioError naming the file and line on any problem."""
    if not is_file(path):
        raise ScenarioError(f"{display_path(path)}: file does not exist")
    text = read_text(path, max_bytes=MAX_YAML_BYTES)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (strict safe loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = exc.problem or exc.context or "syntax error"
        raise ScenarioError(f"{display_path(path)}: YAML error at {where}: {_one_line(problem)}") from None
    except yaml.YAMLError as exc:  # e.g. a reader error: a control character in the text
        raise ScenarioError(f"{display_path(path)}: YAML error: {_one_line(exc)}") from None
    except ValueError:  # Python refuses to convert an integer of more than 4,300 digits
        raise ScenarioError(
            f"{display_path(path)}: YAML error: a number has too many digits (more than 4,300)"
        ) from None
    _check_texts(path, data)
    return data


def _check_texts(path: Path, node: Any, where: str = "") -> None:
    """Every text of the document (keys too) free of control characters, direction controls and lone
    surrogates (``scenario.textrules``); one line naming the field otherwise."""
    if isinstance(node, str):
        problem = text_problem(node)
        if problem:
            raise ScenarioError(f"{display_path(path)}: field '{where or '(top level)'}': text {problem}")
    elif isinstance(node, dict):
        for key, value in node.items():
            name = f"{where}.{key}" if where else str(key)
            _check_texts(path, key, printable(name))
            _check_texts(path, value, printable(name))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_texts(path, value, f"{where}.{i}" if where else str(i))


def display_path(path: Path) -> str:
    """A path as messages show it: relative to the current folder when inside it (as the planner typed
    it), else absolute; the same whether or not it was resolved on the way."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _one_line(x: object) -> str:
    return " ".join(str(x).split())


def _deep_merge(base: Any, override: Any) -> Any:
    """Merge mappings recursively; lists and scalars in ``override`` replace ``base``."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _deep_merge(base[key], value) if key in base else value
        return out
    return override


def read_scenario_tree(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict, list[Path]]:
    """Read a scenario file, resolving ``extends: OTHER.yaml`` (same directory rules).

    Returns the merged mapping and every file read (for hashing).
    """
    path = path.resolve()
    if path in _seen:
        raise ScenarioError(f"{display_path(path)}: 'extends' forms a cycle")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{display_path(path)}: expected a mapping at the top level, found {type(data).__name__}")
    files = [path]
    parent = data.pop("extends", None)
    if parent is None:
        return data, files
    if not isinstance(parent, str):
        raise ScenarioError(f"{display_path(path)}: field 'extends' must be a file name, found {parent!r}")
    parent_path = path.parent / parent
    try:  # where the name leads: a symbolic link to another folder is another folder's file
        leads_to = parent_path.resolve().parent
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a symbolic-link loop
        leads_to = None
    if leads_to != path.parent:
        raise ScenarioError(
            f"{display_path(path)}: field 'extends' must name a file in the same folder (tables resolve there; "
            f"symbolic links included), found {parent!r}"
        )
    base, base_files = read_scenario_tree(parent_path, _seen + (path,))
    return _deep_merge(base, data), base_files + files


def lists_as_tuples(x: object) -> object:
    """YAML lists become tuples, so that strict validation accepts them for frozen fields."""
    if isinstance(x, dict):
        return {k: lists_as_tuples(v) for k, v in x.items()}
    if isinstance(x, list):
        return tuple(lists_as_tuples(v) for v in x)
    return x
