"""YAML reading with duplicate-key detection, line numbers and ``extends``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.errors import ScenarioError

__all__ = ["read_yaml", "read_scenario_tree"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (YAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; raise ScenarioError naming the file and line on any problem."""
    if not path.is_file():
        raise ScenarioError(f"{path}: file does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (strict safe loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = exc.problem or exc.context or "syntax error"
        raise ScenarioError(f"{path}: YAML error at {where}: {problem}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        raise ScenarioError(f"{path}: YAML error: {exc}") from None


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
        raise ScenarioError(f"{path}: 'extends' forms a cycle")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping at the top level, found {type(data).__name__}")
    files = [path]
    parent = data.pop("extends", None)
    if parent is None:
        return data, files
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: field 'extends' must be a file name, found {parent!r}")
    parent_path = (path.parent / parent)
    if parent_path.parent.resolve() != path.parent:
        raise ScenarioError(
            f"{path}: field 'extends' must name a file in the same folder (tables resolve there), found {parent!r}"
        )
    base, base_files = read_scenario_tree(parent_path, _seen + (path,))
    return _deep_merge(base, data), base_files + files
