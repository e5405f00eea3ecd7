"""Benchmarks write their latest figures into docs/ between two markers, so the prose around
them stays as written: ``<!-- NAME:begin -->`` ... ``<!-- NAME:end -->``."""

from __future__ import annotations

from pathlib import Path

PERFORMANCE = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"


def write_block(name: str, body: str, path: Path = PERFORMANCE) -> None:
    """Replace the block ``name`` of ``path`` with ``body`` (appended at the end if absent)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Performance\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
