"""YAML with positions: parse a policy file into plain data plus where each key path starts.

PyYAML's ``safe_load`` forgets positions and silently keeps the last of two duplicate keys, so
this module composes the node graph itself (``SafeLoader``), checks it, constructs the data from
it and records the start mark of every value and every mapping key by key path. Errors become
:class:`PolicyIssue` values, never exceptions, so a caller can report all of them at once.

The pure-Python ``SafeLoader`` is used on purpose even when libyaml is available: policy files
are small and its error messages are the same on every installation.

A policy file may come from anyone who can write it, so what one file may cost is bounded
before anything else sees it: its size (:data:`MAX_DOCUMENT_BYTES`), the values its aliases add
(:data:`MAX_ALIAS_VALUES`: a few hundred bytes of nested ``*alias`` lists, "billion laughs",
otherwise expand to hundreds of millions of values, and every later step walks them), and how
deeply it nests (:data:`MAX_DEPTH`: PyYAML composes recursively). Each is counted while the
document is composed, before it is constructed, and reported where the limit is crossed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from inmail_guard.fieldpath import format_path
from inmail_guard.policies.errors import PolicyIssue

#: A key path into policy data: mapping keys and list indexes, e.g. ``("blocklists", 1, "code")``.
KeyPath = tuple[Any, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"

#: A policy file is read whole and parsed in pure Python (~3 s and ~150 MB per MiB of inline
#: ids): long id lists belong in a blocklist ``file:``, which loads at C speed.
MAX_DOCUMENT_BYTES = 1024 * 1024
#: Values (scalars, mappings, lists) all aliases of one document may add together. Reusing a
#: few settings takes dozens.
MAX_ALIAS_VALUES = 10_000
#: Levels of mappings and lists, aliases expanded (a policy needs 6).
MAX_DEPTH = 64


class _Limit(Exception):
    """A document over one of the bounds: where, and what to say."""

    def __init__(self, mark: Any, message: str, expected: str, found: str) -> None:
        super().__init__(message)
        self.mark, self.message, self.expected, self.found = mark, message, expected, found


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` counting, while it composes, the values aliases add and the depth."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._alias_values = 0
        self._depth = 0
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._measured: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                self._count_alias(event, target)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(event.start_mark, f"expected at most {MAX_DEPTH} levels of nested"
                         " mappings and lists, found more", f"at most {MAX_DEPTH} levels",
                         f"more than {MAX_DEPTH}")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open.discard(anchor)

    def _count_alias(self, event: Any, target: yaml.Node) -> None:
        name = event.anchor
        if name in self._open:
            raise _Limit(event.start_mark, f"the alias *{name} is inside the value it names"
                         f" (&{name} at line {target.start_mark.line + 1}, column"
                         f" {target.start_mark.column + 1}); expected a value that does not"
                         " contain itself", "a value that does not contain itself",
                         f"*{name} inside &{name}")
        size, depth = self._measure(target)
        self._alias_values += size
        if self._alias_values > MAX_ALIAS_VALUES:
            raise _Limit(event.start_mark, f"aliases add more than {MAX_ALIAS_VALUES:,} values"
                         f" to this document (*{name} adds {size:,}, {self._alias_values:,} so"
                         " far); write the values out or use fewer aliases",
                         f"aliases adding at most {MAX_ALIAS_VALUES:,} values",
                         f"{self._alias_values:,} values")
        if self._depth + depth > MAX_DEPTH:
            raise _Limit(event.start_mark, f"expected at most {MAX_DEPTH} levels of nested"
                         f" mappings and lists, found more once *{name} is expanded",
                         f"at most {MAX_DEPTH} levels", f"more than {MAX_DEPTH}")

    def _measure(self, node: yaml.Node) -> tuple[int, int]:
        """(values, levels) of ``node`` with its aliases expanded; each node measured once,
        so counting costs no more than the document as written."""
        known = self._measured.get(id(node))
        if known is not None:
            return known
        size, depth = 1, 0
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        for child in children:
            child_size, child_depth = self._measure(child)
            size += child_size
            depth = max(depth, child_depth)
        self._measured[id(node)] = (size, depth + 1)
        return size, depth + 1


def size_issue(data: bytes, file: str, total: int | None = None) -> PolicyIssue | None:
    """A :class:`PolicyIssue` at the first byte past :data:`MAX_DOCUMENT_BYTES`, if ``data``
    (the file's first bytes at least) goes past it. ``total``: the whole file's size."""
    if len(data) <= MAX_DOCUMENT_BYTES:
        return None
    head = data[:MAX_DOCUMENT_BYTES]
    line = head.count(b"\n") + 1
    column = len(head[head.rfind(b"\n") + 1:].decode("utf-8", "ignore")) + 1
    total = max(total or 0, len(data))
    size = f"{total:,} bytes" if total > MAX_DOCUMENT_BYTES + 1 else "more"
    return PolicyIssue(file, line, column, "", f"expected a policy file of at most"
                       f" {MAX_DOCUMENT_BYTES:,} bytes (1 MiB), found {size}; put long id lists"
                       " in a blocklist file (blocklists[].file)",
                       f"at most {MAX_DOCUMENT_BYTES:,} bytes", size)


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a node starts: file and 1-based line and column."""

    file: str
    line: int
    column: int


@dataclass(slots=True)
class Positions:
    """Start marks of values and of mapping keys, by key path (possibly from several files)."""

    values: dict[KeyPath, Mark] = field(default_factory=dict)
    keys: dict[KeyPath, Mark] = field(default_factory=dict)
    #: merged path prefix -> the path as written in its file (blocklists merged by name move)
    written: dict[KeyPath, KeyPath] = field(default_factory=dict)

    def value(self, path: KeyPath) -> Mark:
        """Where the value at ``path`` starts, or its nearest located ancestor."""
        for n in range(len(path), -1, -1):
            mark = self.values.get(path[:n])
            if mark is not None:
                return mark
        return Mark("<unknown>", 1, 1)

    def key(self, path: KeyPath) -> Mark:
        """Where the key naming ``path`` starts (falls back to :meth:`value`)."""
        return self.keys.get(path) or self.value(path)

    def as_written(self, path: KeyPath) -> KeyPath:
        """``path`` as it reads in the file that defines it."""
        for n in range(len(path), 0, -1):
            origin = self.written.get(path[:n])
            if origin is not None:
                return origin + path[n:]
        return path

    def drop_under(self, prefix: KeyPath) -> None:
        """Forget every position strictly inside ``prefix`` (a value replaced whole)."""
        n = len(prefix)
        for table in (self.values, self.keys):
            for path in [p for p in table if len(p) > n and p[:n] == prefix]:
                del table[path]

    def moved(self, old: KeyPath, new: KeyPath) -> Positions:
        """The positions at and under ``old``, re-rooted at ``new``."""
        n = len(old)
        out = Positions()
        for src, dst in ((self.values, out.values), (self.keys, out.keys)):
            for path, mark in src.items():
                if path[:n] == old:
                    dst[new + path[n:]] = mark
        return out

    def update(self, other: Positions) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)


@dataclass(slots=True)
class Parsed:
    """A parsed document: its data (None if it could not be parsed), positions and issues."""

    data: Any
    positions: Positions
    issues: list[PolicyIssue]
    ok: bool  # False when the text is not YAML at all: ``data`` is then meaningless


def parse_yaml(text: str, file: str) -> Parsed:
    """Parse one YAML document, recording positions and every problem found."""
    positions = Positions()
    if len(text) * 4 > MAX_DOCUMENT_BYTES:  # a character is 1 to 4 bytes of UTF-8
        too_large = size_issue(text.encode("utf-8", "surrogatepass"), file)
        if too_large is not None:
            return Parsed(None, positions, [too_large], False)
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character, checked up front
        return Parsed(None, positions, [_reader_issue(exc, text, file)], False)
    try:
        node = loader.get_single_node()
        if node is None:
            return Parsed(None, positions, [], True)
        issues = list(_duplicate_keys(node, file))
        data = loader.construct_object(node, deep=True)
        _record(node, (), loader.constructed_objects, positions, file, set())
        return Parsed(data, positions, issues, True)
    except yaml.MarkedYAMLError as exc:
        return Parsed(None, positions, _syntax_issues(exc, text, file), False)
    except _Limit as exc:
        mark = _mark(exc.mark, file)
        return Parsed(None, positions, [PolicyIssue(file, mark.line, mark.column, "",
                                                    exc.message, exc.expected, exc.found)],
                      False)
    except yaml.reader.ReaderError as exc:
        return Parsed(None, positions, [_reader_issue(exc, text, file)], False)
    finally:
        loader.dispose()


def _reader_issue(exc: yaml.reader.ReaderError, text: str, file: str) -> PolicyIssue:
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    char = exc.character
    found = f"the control character U+{char:04X}" if isinstance(char, int) else f"{char!r}"
    return PolicyIssue(file, line, column, "", f"invalid YAML: expected printable text, found"
                       f" {found}", "printable text", found)


def _mark(mark: Any, file: str) -> Mark:
    return Mark(file, mark.line + 1, mark.column + 1)


def _record(node: yaml.Node, path: KeyPath, built: dict[yaml.Node, Any], positions: Positions,
            file: str, stack: set[int]) -> None:
    positions.values[path] = _mark(node.start_mark, file)
    if id(node) in stack:  # a recursive alias: its positions are already recorded
        return
    stack.add(id(node))
    if isinstance(node, yaml.MappingNode):
        # SafeConstructor.flatten_mapping has already put merged (<<) pairs first, so the
        # explicit keys, recorded last, win, as they do in the data.
        for key_node, value_node in node.value:
            key = built.get(key_node, getattr(key_node, "value", None))
            try:
                hash(key)
            except TypeError:
                continue
            positions.keys[(*path, key)] = _mark(key_node.start_mark, file)
            _record(value_node, (*path, key), built, positions, file, stack)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), built, positions, file, stack)
    stack.discard(id(node))


def _duplicate_keys(root: yaml.Node, file: str) -> Iterable[PolicyIssue]:
    """Keys repeated in one mapping (PyYAML would silently keep the last one)."""
    seen_nodes: set[int] = set()
    todo: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    while todo:
        node, path = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], yaml.Node] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                ident = (key_node.tag, str(key_node.value))
                if isinstance(key_node, yaml.ScalarNode) and ident in first:
                    earlier = first[ident].start_mark
                    name = str(key_node.value)
                    yield PolicyIssue(
                        file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                        format_path((*path, name)),
                        f"duplicate key {name!r} (first at line {earlier.line + 1}, column"
                        f" {earlier.column + 1}); expected each key once in a mapping",
                        "each key once in a mapping", f"{name!r} again",
                    )
                else:
                    first.setdefault(ident, key_node)
                todo.append((value_node, (*path, str(key_node.value))))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, (*path, i)) for i, item in enumerate(node.value))


def _syntax_issues(exc: yaml.MarkedYAMLError, text: str, file: str) -> list[PolicyIssue]:
    problem = exc.problem or "unexpected content"
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if "'\\t'" in problem or "\t" in problem:
        tabs = _tab_indents(text)
        if tabs:
            return [
                PolicyIssue(file, n, col, "", "expected spaces for indentation, found a tab",
                            "spaces for indentation", "a tab")
                for n, col in tabs
            ]
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context.startswith("while") and exc.context_mark:
        message += (f" ({exc.context} at line {exc.context_mark.line + 1},"
                    f" column {exc.context_mark.column + 1})")
    elif exc.context:  # e.g. "expected a single document in the stream", "but found another"
        message = f"invalid YAML: {exc.context}, {problem}"
    return [PolicyIssue(file, line, column, "", message, "valid YAML", problem)]


def _tab_indents(text: str) -> list[tuple[int, int]]:
    """(line, column) of the first tab in each line's leading whitespace."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            found.append((number, indent.index("\t") + 1))
    return found
