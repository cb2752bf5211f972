"""YAML -> :class:`Policy`: positions, ``extends:`` overlays, blocklist files, the version hash.

Loading never stops at the first problem: YAML syntax, duplicate keys, bad ``extends``, schema
errors and unreadable blocklist files are all collected and raised together as one
:class:`PolicyError`, each located at a file, line and column.

``extends`` merge rules (docs/policies.md): the child's keys win; mappings merge key by key,
recursively; lists are replaced whole, except ``blocklists``, which merge by ``name`` (a child
entry replaces the parent's entry of the same name in place; new names are appended).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inmail_guard.memberids import first_bad_id
from inmail_guard.policies.errors import (
    PolicyError,
    PolicyIssue,
    describe,
    issue,
    suggest,
    validation_issues,
)
from inmail_guard.policies.schema import Policy, policy_json_schema
from inmail_guard.policies.yamlpos import (
    MAX_DOCUMENT_BYTES,
    KeyPath,
    Mark,
    Positions,
    parse_yaml,
    size_issue,
)

__all__ = [
    "BUILTIN_DEFAULT",
    "PolicyError",
    "PolicyIssue",
    "default_policy",
    "ids_digest",
    "load_located",
    "load_policy",
    "load_policy_text",
    "policy_schema_text",
    "policy_version",
    "read_blocklist_file",
]

BUILTIN_DEFAULT = "builtin:default"
SCHEMA_FILE = "policy.schema.json"
_PACKAGE = "inmail_guard.policies"
_COMMENT = re.compile(r"#[^\n]*")


def load_policy(path: str | Path) -> Policy:
    """Load, merge (``extends``), validate and version a policy file.

    ``"builtin:default"`` is the shipped policy. Raises :class:`PolicyError` with every issue.
    """
    if str(path) == BUILTIN_DEFAULT:
        return default_policy()
    return load_located(path)[0]


def load_policy_text(text: str, source: str = "<string>") -> Policy:
    """Like :func:`load_policy` for YAML text; relative paths resolve against ``source``'s
    directory (the current directory for ``"<string>"``)."""
    return _Loader().load(text, source, Path(source).parent)[0]


@functools.cache
def default_policy() -> Policy:
    """The shipped policy (``builtin:default``), loaded once."""
    return load_located(BUILTIN_DEFAULT)[0]


def load_located(path: str | Path) -> tuple[Policy, Positions]:
    """The policy and where each of its key paths is written (for later checks such as
    compiling detectors). Never cached."""
    display = str(path)
    if display == BUILTIN_DEFAULT:
        return _Loader().load(_default_text(), BUILTIN_DEFAULT, _package_dir())
    if display.startswith("builtin:") and not os.path.exists(path):  # a misspelt built-in
        hint = suggest(display, [BUILTIN_DEFAULT])
        raise PolicyError([PolicyIssue(
            display, 1, 1, "", f"no built-in policy {display!r}{hint}; expected a policy file"
            f" or {BUILTIN_DEFAULT}", f"a policy file or {BUILTIN_DEFAULT}", repr(display))])
    try:
        data, total = _read_head(path)
        too_large = size_issue(data, display, total)
        if too_large is not None:
            raise PolicyError([too_large])
        text = data.decode("utf-8-sig")
    except OSError as exc:
        raise PolicyError([PolicyIssue(display, 1, 1, "", f"cannot read the policy file:"
                                       f" {exc.strerror or exc}", "a readable policy file",
                                       exc.strerror or str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyIssue(display, 1, 1, "", f"expected UTF-8 text, found {exc}",
                                       "UTF-8 text", str(exc))]) from None
    return _Loader().load(text, display, Path(path).parent)


def sort_issues(issues: Iterable[PolicyIssue], display: str) -> list[PolicyIssue]:
    """In file order, the file loaded first, then the files it extends."""
    return sorted(issues, key=lambda i: (i.file != display, i.file, i.line, i.column))


def _read_head(path: str | Path) -> tuple[bytes, int]:
    """A policy file's bytes, at most one past :data:`MAX_DOCUMENT_BYTES` (a larger file is
    refused, so it is never read whole), and its size."""
    with open(path, "rb") as file:
        return file.read(MAX_DOCUMENT_BYTES + 1), os.fstat(file.fileno()).st_size


def read_blocklist_file(path: str | Path) -> frozenset[str]:
    """Member ids from a text file: whitespace-separated (one per line, by convention); ``#``
    starts a comment that runs to the end of the line; blank lines are ignored."""
    return frozenset(_read_ids(path))


def _read_ids(path: str | Path) -> list[str]:
    return _read_checked_ids(path)[0]


def _read_checked_ids(path: str | Path) -> tuple[list[str], tuple[int, str, str] | None]:
    """The ids of a blocklist file, and the first one no member could have (its line, the id,
    why: :func:`~inmail_guard.memberids.first_bad_id`) or None."""
    # str.split(), re.sub and the search run in C: a million ids read in about a tenth of a
    # second.
    text = Path(path).read_bytes().decode("utf-8-sig")
    if "#" in text:
        text = _COMMENT.sub("", text)
    return text.split(), first_bad_id(text)


def ids_digest(ids: Iterable[str]) -> str:
    """sha256 of a set of ids: its members sorted, one per line."""
    return hashlib.sha256("\n".join(sorted(set(ids))).encode()).hexdigest()


def policy_version(policy: Policy, sorted_file_ids: dict[str, list[str]] | None = None) -> str:
    """``sha256:`` of the policy's meaning: the canonical JSON (sorted keys) of the validated
    model dumped in json mode, without ``extends`` and ``description``, and with each
    blocklist's ``ids`` and ``file`` replaced by the count and :func:`ids_digest` of all its ids
    (inline and from the file, as one set). ``sorted_file_ids``: each blocklist file's ids,
    sorted and unique, as the loader has them (saves sorting a big list again)."""
    data = policy.model_dump(mode="json", exclude={"extends", "description"})
    for item in data["blocklists"]:
        inline = item.pop("ids")
        item.pop("file", None)
        name = item["name"]
        from_file = policy._file_ids.get(name, frozenset())
        if sorted_file_ids is None or name not in sorted_file_ids:
            ids = sorted(from_file.union(inline))
        else:
            # timsort merges the sorted run with the few inline ids in linear time
            extra = [i for i in dict.fromkeys(inline) if i not in from_file]
            ids = sorted(sorted_file_ids[name] + extra) if extra else sorted_file_ids[name]
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
        item["ids"] = {"count": len(ids), "sha256": digest}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def policy_schema_text() -> str:
    """The JSON Schema of a policy as shipped in ``policies/policy.schema.json``."""
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _set_and_sorted(ids: list[str]) -> tuple[frozenset[str], list[str]]:
    unique = frozenset(ids)
    ids.sort()  # linear when the file is already sorted
    if len(ids) != len(unique):
        ids = [key for key, _ in itertools.groupby(ids)]
    return unique, ids


def _default_text() -> str:
    return resources.files(_PACKAGE).joinpath("default.yaml").read_text("utf-8")


def _package_dir() -> Path:
    return Path(str(resources.files(_PACKAGE)))


# --- loading ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Doc:
    data: dict[Any, Any]
    positions: Positions


class _Loader:
    """One load: the issues found so far and the directory of every file read."""

    def __init__(self) -> None:
        self.issues: list[PolicyIssue] = []
        self.dirs: dict[str, Path] = {}

    def load(self, text: str, display: str, base: Path) -> tuple[Policy, Positions]:
        ident = BUILTIN_DEFAULT if display == BUILTIN_DEFAULT else str(
            (base / Path(display).name).resolve())
        doc = self.document(text, display, base, ((ident, display),))
        policy = None
        if doc is not None:
            file_ids = self.blocklist_files(doc.data, doc.positions)
            try:
                policy = Policy.model_validate(doc.data)
            except ValidationError as exc:
                self.issues.extend(validation_issues(exc, doc.data, doc.positions, Policy))
        if policy is None or self.issues:
            raise PolicyError(sort_issues(self.issues, display),
                              data=doc.data if doc is not None else None,
                              positions=doc.positions if doc is not None else None)
        assert doc is not None
        policy._file_ids = {name: ids for name, (ids, _) in file_ids.items()}
        policy._version = policy_version(
            policy, {name: ordered for name, (_, ordered) in file_ids.items()})
        policy._source = display
        return policy, doc.positions

    def document(self, text: str, display: str, base: Path,
                 chain: tuple[tuple[str, str], ...]) -> _Doc | None:
        """Parse one file and, recursively, what it extends; None if it can't be merged."""
        self.dirs[display] = base
        parsed = parse_yaml(text, display)
        self.issues.extend(parsed.issues)
        if not parsed.ok:
            return None
        if not isinstance(parsed.data, dict):
            mark = parsed.positions.value(())
            found = "an empty document" if parsed.data is None else describe(parsed.data)
            mark = mark if parsed.data is not None else Mark(display, 1, 1)
            self.issues.append(PolicyIssue(
                display, mark.line, mark.column, "",
                f"expected a mapping of policy keys, found {found}", "a mapping", found))
            return None
        doc = _Doc(parsed.data, parsed.positions)
        if doc.data.get("extends") is None:
            return doc
        parent = self.parent(doc, display, base, chain)
        if parent is None:
            return None
        data = _merge(parent.data, doc.data, (), parent.positions, doc.positions)
        if "description" not in doc.data:
            # A description says what one file is for: an overlay never inherits its parent's.
            data.pop("description", None)
            parent.positions.values.pop(("description",), None)
            parent.positions.keys.pop(("description",), None)
        return _Doc(data, parent.positions)

    def parent(self, doc: _Doc, display: str, base: Path,
               chain: tuple[tuple[str, str], ...]) -> _Doc | None:
        ext = doc.data["extends"]
        where = ("extends",)
        expected = "a path to a policy file or builtin:default"
        if not isinstance(ext, str) or not ext.strip():
            self.issues.append(issue(doc.positions, where, expected, describe(ext)))
            return None
        if ext.startswith("builtin:"):
            if ext != BUILTIN_DEFAULT:
                self.issues.append(issue(doc.positions, where, expected,
                                         repr(ext) + suggest(ext, [BUILTIN_DEFAULT])))
                return None
            ident, shown, target_dir = BUILTIN_DEFAULT, BUILTIN_DEFAULT, _package_dir()
            text: str | None = _default_text()
        else:
            target = base / ext
            shown = os.path.normpath(os.path.join(os.path.dirname(display), ext))
            ident, target_dir, text = str(target.resolve()), target.parent, None
        idents = [i for i, _ in chain]
        if ident in idents:
            cycle = " -> ".join([d for _, d in chain[idents.index(ident):]] + [shown])
            self.issues.append(issue(doc.positions, where, "an extends chain without cycles",
                                     f"the cycle {cycle}", message=f"extends cycle: {cycle}"))
            return None
        if text is None:
            try:
                data, total = _read_head(base / ext)
                too_large = size_issue(data, shown, total)
                if too_large is not None:
                    self.issues.append(too_large)
                    return None
                text = data.decode("utf-8-sig")
            except FileNotFoundError:
                problem = f"no such file: {shown}"
            except OSError as exc:
                problem = f"{exc.strerror or exc}: {shown}"
            except UnicodeDecodeError:
                problem = f"not UTF-8 text: {shown}"
            if text is None:
                self.issues.append(issue(doc.positions, where, "a policy file to extend",
                                         f"{ext!r} ({problem})"))
                return None
        return self.document(text, shown, target_dir, (*chain, (ident, shown)))

    def blocklist_files(self, data: dict[Any, Any], positions: Positions
                        ) -> dict[str, tuple[frozenset[str], list[str]]]:
        """The ids of every blocklist ``file`` (read relative to the policy file that names
        it) as a set and as a sorted list without repeats."""
        out: dict[str, tuple[frozenset[str], list[str]]] = {}
        lists = data.get("blocklists")
        for index, item in enumerate(lists if isinstance(lists, list) else ()):
            if not isinstance(item, dict) or not isinstance(item.get("file"), str):
                continue
            name, file = item.get("name"), item["file"]
            where = ("blocklists", index, "file")
            origin = positions.key(where).file
            base = self.dirs.get(origin, Path.cwd())
            shown = os.path.normpath(os.path.join(
                str(base) if origin == BUILTIN_DEFAULT else os.path.dirname(origin), file))
            try:
                ids, bad = _read_checked_ids(base / file)
            except FileNotFoundError:
                problem = f"no such file: {shown}"
            except OSError as exc:
                problem = f"{exc.strerror or exc}: {shown}"
            except UnicodeDecodeError:
                problem = f"not UTF-8 text: {shown}"
            else:
                if bad is None:
                    if isinstance(name, str):
                        out[name] = _set_and_sorted(ids)
                    continue
                line, member_id, why = bad  # it could never match a member: say where it is
                problem = f"{shown}:{line}: {member_id!r} {why}"
            self.issues.append(issue(positions, where, "a readable file of member ids",
                                     f"{file!r} ({problem})", at_key=True))
            continue
            self.issues.append(issue(positions, where, "a readable file of member ids",
                                     f"{file!r} ({problem})", at_key=True))
        return out


# --- extends: merging ------------------------------------------------------------------------


def _merge(parent: Any, child: Any, path: KeyPath, positions: Positions,
           child_positions: Positions) -> Any:
    """``child`` over ``parent``; ``positions`` (the parent's) is updated to match."""
    if isinstance(parent, dict) and isinstance(child, dict):
        out = dict(parent)
        for key, value in child.items():
            sub = (*path, key)
            if sub in child_positions.keys:
                positions.keys[sub] = child_positions.keys[sub]
            if key in parent:
                out[key] = _merge(parent[key], value, sub, positions, child_positions)
            else:
                out[key] = value
                positions.update(child_positions.moved(sub, sub))
        if path in child_positions.values:
            positions.values[path] = child_positions.values[path]
        return out
    if path == ("blocklists",) and isinstance(parent, list) and isinstance(child, list):
        return _merge_blocklists(parent, child, path, positions, child_positions)
    positions.drop_under(path)
    positions.update(child_positions.moved(path, path))
    return child


def _merge_blocklists(parent: list[Any], child: list[Any], path: KeyPath, positions: Positions,
                      child_positions: Positions) -> list[Any]:
    items = list(parent)
    origins = [positions.moved((*path, i), (*path, i)) for i in range(len(parent))]
    old_index = list(range(len(parent)))
    by_name = {item["name"]: i for i, item in enumerate(parent)
               if isinstance(item, dict) and isinstance(item.get("name"), str)}
    for k, item in enumerate(child):
        origin = child_positions.moved((*path, k), (*path, k))
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in by_name:
            i = by_name.pop(name)  # a second entry of that name is appended: a duplicate error
            items[i], origins[i], old_index[i] = item, origin, k
            positions.written.pop((*path, i), None)
        else:
            items.append(item)
            origins.append(origin)
            old_index.append(k)
    positions.drop_under(path)
    for i, (origin, old) in enumerate(zip(origins, old_index, strict=True)):
        positions.update(origin.moved((*path, old), (*path, i)))
        if old != i:
            positions.written[(*path, i)] = (*path, old)
    if path in child_positions.values:
        positions.values[path] = child_positions.values[path]
    return items
