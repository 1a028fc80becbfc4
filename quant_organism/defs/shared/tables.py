"""Rows as Dagster table metadata: the domain's rows (dicts) and their (name, type) columns, shown on the asset page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dagster as dg


def metadata_table(rows: Iterable[dict], columns: Sequence[tuple[str, str]]) -> dg.TableMetadataValue:
    """A table of `rows` with `columns` in that order (a value a row lacks is left empty)."""
    names = [name for name, _ in columns]
    return dg.MetadataValue.table(
        records=[dg.TableRecord({name: row.get(name) for name in names if row.get(name) is not None}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns]),
    )


def markdown_table(rows: Iterable[dict], columns: Sequence[tuple[str, str]]) -> dg.MarkdownMetadataValue:
    """The same rows as a Markdown table. Dagster clips a wide table metadata value to its column; a long Markdown
    value opens in a dialog that scrolls, so a reason too long for a narrow page can still be read whole."""
    names = [name for name, _ in columns]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        cells = ["" if row.get(name) is None else str(row[name]).replace("|", "\\|").replace("\n", " ") for name in names]
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))
