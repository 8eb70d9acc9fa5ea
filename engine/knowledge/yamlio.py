"""Safe YAML loading that keeps every node's position and rejects what PyYAML lets slip.

Plain ``yaml.safe_load`` silently keeps the last of two duplicate keys and reads ``no``/``on`` as
booleans (YAML 1.1). Rule and knowledge files are edited by hand, so both are errors or plain
strings here, and every value remembers its ``line:col`` so that schema errors can point at it.
Nothing here constructs Python objects from tags: only mappings, lists and scalars.

Every file goes through the limits of :mod:`gpu_advisor.knowledge.safe_files`: read capped from
regular files only, a composed document bounded in depth and in expanded size before anything is
constructed ("billion laughs"), and numbers finite and of a sane length, each error at
``path:line:col``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gpu_advisor.errors import FileError, FileErrors, Location
from gpu_advisor.knowledge.safe_files import (
    MAX_DATA_FILE_BYTES,
    check_yaml_tree,
    construct_scalar_checked,
    read_text_limited,
)

PathKey = tuple[str | int, ...]


# libyaml's parser when PyYAML was built with it (about 10x faster on our files), else Python's.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader with YAML 1.2 booleans: only true/false, so `no` and `on` stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).append(
        ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )


@dataclass
class Document:
    """Loaded YAML data plus the position of every value, addressed by its key path."""

    path: str
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    quoted: set[PathKey] = field(default_factory=set)

    def location(self, key: PathKey = ()) -> Location:
        """Position of the value at ``key``, or of its nearest ancestor that has one."""
        probe = tuple(key)
        while probe not in self.marks and probe:
            probe = probe[:-1]
        line, col = self.marks.get(probe, (0, 0))
        return Location(self.path, line, col)

    def key_location(self, key: PathKey) -> Location:
        """Position of a mapping key itself (for 'unknown key' messages)."""
        mark = self.marks.get(tuple(key) + ("<key>",))
        if mark is None:
            return self.location(key)
        return Location(self.path, *mark)


def _construct(
    node: yaml.Node, loader: _Loader, doc: Document, key: PathKey, errors: list[FileError]
) -> Any:
    doc.marks[key] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = construct_scalar_checked(loader, key_node, doc.path, finite=False)
            if not isinstance(name, (str, int, float, bool)):
                errors.append(
                    FileError(
                        Location(
                            doc.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1
                        ),
                        "mapping keys must be plain names",
                    )
                )
                continue
            name = str(name) if not isinstance(name, str) else name
            if name in result:
                first = doc.marks.get(key + (name, "<key>"), (0, 0))
                errors.append(
                    FileError(
                        Location(
                            doc.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1
                        ),
                        f"duplicate key {name!r} (first defined at line {first[0]})",
                    )
                )
                continue
            doc.marks[key + (name, "<key>")] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            result[name] = _construct(value_node, loader, doc, key + (name,), errors)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, loader, doc, key + (i,), errors) for i, item in enumerate(node.value)
        ]
    if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
        doc.quoted.add(key)
    try:
        return construct_scalar_checked(loader, node, doc.path)
    except FileErrors as exc:  # a bad number: report it with the file's other problems
        errors.extend(exc.errors)
        return None


def load_yaml(path: str | os.PathLike[str], display: str | None = None) -> Document:
    """Load one YAML file safely; raise FileErrors (all of them) for syntax or duplicate keys."""
    shown = display or str(path)
    text = read_text_limited(path, MAX_DATA_FILE_BYTES, shown)
    return parse_yaml(text, shown)


def parse_yaml(text: str, display: str) -> Document:
    """Parse YAML text; the display name is what error messages call the file."""
    doc = Document(display, None)
    errors: list[FileError] = []
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        check_yaml_tree(node, display)
        if node is not None:
            doc.data = _construct(node, loader, doc, (), errors)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
        problem = exc.problem or exc.context or "invalid YAML"
        raise FileErrors([FileError(where, f"YAML syntax error: {problem}")]) from None
    except yaml.reader.ReaderError as exc:  # a control character: point at it, on one line
        offset = exc.position
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = f"character U+{character:04X} is not allowed in YAML ({exc.reason})"
        raise FileErrors([FileError(Location(display, line, column), problem)]) from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise FileErrors([FileError(Location(display), f"YAML error: {message}")]) from None
    except RecursionError:  # nesting too deep even to compose (the tree check comes after)
        raise FileErrors([FileError(Location(display), "YAML nested too deeply to read")]) from None
    finally:
        loader.dispose()
    if errors:
        raise FileErrors(errors)
    return doc


def iter_yaml_files(directory: Path) -> Iterator[Path]:
    """YAML files of a folder in a stable order (sorted by name)."""
    yield from sorted(
        p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
    )


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Deprecated alias of :func:`gpu_advisor.knowledge.safe_files.write_text_safely` (which
    also keeps a link, a device such as /dev/null and the file's mode); kept for old callers."""
    from gpu_advisor.knowledge.safe_files import write_text_safely

    write_text_safely(path, text)
