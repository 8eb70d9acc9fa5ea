"""Filling a DataTable in one go, with column widths fixed from the content.

DataTable measures auto-width columns on idle, after the rows arrive; a header drawn in between
is cached at the old widths and can stay misaligned (seen under load). Giving every column an
explicit width computed here, before any row is drawn, makes the header and the rows agree
whatever the timing.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist


def _cell(value: str | Text, right: bool) -> Text:
    if isinstance(value, Text):
        return value
    return Text(value, justify="right" if right else "left")


def fill_table(
    table: DataTable[Text],
    headers: Sequence[str],
    rows: Sequence[Sequence[str | Text]],
    *,
    right: frozenset[int] | set[int] = frozenset(),
    keys: Sequence[str] | None = None,
    max_width: int = 80,
) -> None:
    """Replace the table's columns and rows; the highlighted row stays on its key when it
    remains."""
    keep = cursor_key(table)
    widths = [len(h) for h in headers]
    for cells in rows:
        for index, cell in enumerate(cells):
            text = cell.plain if isinstance(cell, Text) else cell
            widths[index] = max(widths[index], len(text))
    table.clear(columns=True)
    for index, header in enumerate(headers):
        table.add_column(
            Text(header, justify="right" if index in right else "left"),
            width=min(widths[index], max_width),
            key=str(index),
        )
    for number, cells in enumerate(rows):
        table.add_row(
            *[_cell(cell, index in right) for index, cell in enumerate(cells)],
            key=keys[number] if keys is not None else None,
        )
    if keep is not None:
        try:
            table.move_cursor(row=table.get_row_index(keep), animate=False, scroll=False)
        except RowDoesNotExist:  # the row left the table
            pass


def cursor_key(table: DataTable[Text]) -> str | None:
    """The key of the row under the cursor, if there is one."""
    if table.row_count == 0:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except CellDoesNotExist:
        return None
