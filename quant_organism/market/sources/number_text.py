"""Numbers written for people: `29,374.2` (thousands commas), `29.374,2` / `11962,0` (decimal commas) and
`0.0100%` (percentages, as exchanges' funding exports write rates).

Spreadsheet and web exports write prices so; read as plain numbers they are all NaN, and a whole file of
candles would be quarantined. A file is read in one style, decided from its columns together: a column that
only the comma-thousands style reads makes the file comma-thousands, one that only the decimal-comma style
reads makes it decimal-comma. Then each column whose every cell that style reads is rewritten as plain
numbers (columns the reader already took as numbers are left alone). Nothing is guessed: a file whose
columns point both ways, or whose cells fit both styles alike (`1,234` everywhere), is left as it is, so its
cells become NaN and the quality rules quarantine them with their reason, as they do a cell that is no
number at all. A column whose every cell is a plain number followed by `%` is read as that number / 100,
exactly (decimal arithmetic, so `0.0100%` is the float 0.0001).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import pandas as pd

_PLAIN = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INTEGER = r"[+-]?\d+"
_COMMA_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?"  # 29,374.2
_DOT_THOUSANDS = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?"  # 29.374,2
_DECIMAL_COMMA = r"[+-]?\d+,\d+"  # 11962,0
_PERCENT = r"[+-]?(?:\d+\.?\d*|\.\d+) ?%"  # 0.0100%


def _cells(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text[text.notna() & (text != "")]


def _reads(cells: pd.Series, *patterns: str) -> bool:
    fits = pd.Series(False, index=cells.index)
    for pattern in patterns:
        fits |= cells.str.fullmatch(pattern).fillna(False).astype(bool)
    return bool(fits.all())


def plain_numbers(columns: Mapping[str, pd.Series]) -> dict[str, pd.Series]:
    """The columns with text numbers of the file's style rewritten as plain numbers (see the module docstring);
    numeric columns and columns the style cannot read whole come back unchanged."""
    texts = {
        name: _cells(values) for name, values in columns.items() if values.dtype == object or pd.api.types.is_string_dtype(values)
    }
    texts = {name: cells for name, cells in texts.items() if len(cells) and not _reads(cells, _PLAIN)}
    percent = {name for name, cells in texts.items() if _reads(cells, _PERCENT)}
    texts = {name: cells for name, cells in texts.items() if name not in percent}
    comma_thousands = {n for n, c in texts.items() if _reads(c, _PLAIN, _COMMA_THOUSANDS)}
    decimal_comma = {n for n, c in texts.items() if _reads(c, _INTEGER, _DECIMAL_COMMA, _DOT_THOUSANDS)}
    out = dict(columns)
    if comma_thousands - decimal_comma and not decimal_comma - comma_thousands:
        for name in comma_thousands:
            out[name] = columns[name].astype("string").str.strip().str.replace(",", "", regex=False)
    elif decimal_comma - comma_thousands and not comma_thousands - decimal_comma:
        for name in decimal_comma:
            text = columns[name].astype("string").str.strip()
            out[name] = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    for name in percent:
        out[name] = _hundredths(columns[name])
    return out


def _hundredths(values: pd.Series) -> pd.Series:
    """`12.5%` -> 0.125 per cell, in decimal arithmetic; empty cells are NaN."""
    text = values.astype("string").str.strip().str.rstrip("%").str.strip()
    return pd.Series([float(Decimal(c) / 100) if isinstance(c, str) and c else np.nan for c in text], index=values.index)
