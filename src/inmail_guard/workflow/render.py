"""Sections of labelled tables, rendered as rich terminal tables, Markdown or JSON.

``explain`` and ``qa`` build :class:`Section` lists; how they look is decided here only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    notes: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    numeric: frozenset[int] = field(default_factory=frozenset)
    """Column indexes to right-align."""


def print_sections(sections: Sequence[Section], console: Console) -> None:
    for section in sections:
        console.print(f"\n[bold underline]{escape(section.title)}[/bold underline]")
        for note in section.notes:
            console.print(f"  {escape(note)}")
        if section.columns:
            table = Table(show_header=True, header_style="bold", box=None, pad_edge=False,
                          padding=(0, 2, 0, 2))
            for i, col in enumerate(section.columns):
                table.add_column(col, justify="right" if i in section.numeric else "left",
                                 overflow="fold")
            for row in section.rows:
                table.add_row(*(escape(cell) for cell in row))
            console.print(table)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sections_markdown(sections: Sequence[Section], heading: str = "##") -> str:
    out: list[str] = []
    for section in sections:
        out += [f"{heading} {section.title}", ""]
        if section.notes:
            out += [f"- {note}" for note in section.notes] + [""]
        if section.columns:
            out.append("| " + " | ".join(_cell(c) for c in section.columns) + " |")
            out.append("|" + "|".join("---:" if i in section.numeric else "---"
                                      for i in range(len(section.columns))) + "|")
            out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
            out.append("")
    return "\n".join(out)


def sections_json(sections: Sequence[Section]) -> str:
    data = []
    for s in sections:
        item = asdict(s)
        item["numeric"] = sorted(s.numeric)
        data.append(item)
    return json.dumps(data, indent=2, ensure_ascii=False)
