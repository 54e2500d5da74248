"""CSV records with the file line each starts on: a careful reader and a fast one.

* :func:`records` reads record by record with the ``csv`` module. A record that runs over
  several lines is kept only if its quotes are well formed (a quoted line break); otherwise its
  first line is reported as broken and reading resumes on the next line, so one stray quote
  never swallows or merges the lines after it.
* :func:`regular_table` reads a *regular* file (every record on one line, no blank lines, the
  same number of fields everywhere) with Arrow's multi-threaded CSV reader, several times
  faster; it returns None for anything else, and the careful reader takes over.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv


@dataclass(frozen=True)
class Record:
    """One record: its first line in the file, its fields, or the reason it is broken."""

    line: int
    fields: list[str] | None
    problem: str | None = None
    last_line: int = 0


class _Lines:
    """An iterator over physical lines whose position can be moved back."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.index = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.index >= len(self.lines):
            raise StopIteration
        self.index += 1
        return self.lines[self.index - 1]


def _well_quoted(chunk: str, delimiter: str) -> bool:
    try:
        rows = list(csv.reader(io.StringIO(chunk, newline=""), delimiter=delimiter, strict=True))
    except csv.Error:
        return False
    return len(rows) == 1


def records(text: str, delimiter: str) -> Iterator[Record]:
    """Every record of ``text`` in order; lines end with ``\\n``, ``\\r\\n`` or ``\\r``."""
    lines = io.StringIO(text, newline="").readlines()
    source = _Lines(lines)
    reader = csv.reader(source, delimiter=delimiter, strict=False)
    while True:
        first = source.index
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(first + 1, None, f"not valid CSV ({exc})", first + 1)
            source.index = first + 1
            reader = csv.reader(source, delimiter=delimiter, strict=False)
            continue
        last = source.index
        if last - first > 1 and not _well_quoted("".join(lines[first:last]), delimiter):
            yield Record(
                first + 1,
                None,
                f"unbalanced quote: the record would run over lines {first + 1}-{last}",
                first + 1,
            )
            source.index = first + 1  # resume on the next line
            reader = csv.reader(source, delimiter=delimiter, strict=False)
            continue
        yield Record(first + 1, fields, None, last)


def regular_table(text: str, delimiter: str, n_fields: int) -> pa.Table | None:
    """All rows of a regular file (header included) as string columns, values stripped and
    empty values null; None when the file is not regular (see the module docstring)."""
    if not text or text[0] in "\r\n":
        return None
    names = [f"f{i}" for i in range(n_fields)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=False, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    physical_lines = breaks + (0 if text.endswith(("\n", "\r")) else 1)
    if physical_lines != table.num_rows:  # a quoted line break: line numbers need the csv module
        return None
    stripped = [pc.utf8_trim_whitespace(table.column(name)) for name in names]
    empty = [pc.equal(column, "") for column in stripped]
    all_empty = empty[0]
    for mask in empty[1:]:
        all_empty = pc.and_(all_empty, mask)
    if pc.any(all_empty).as_py():  # blank records: the careful reader skips them
        return None
    return pa.table(
        {
            name: pc.if_else(mask, pa.scalar(None, pa.string()), column)
            for name, mask, column in zip(names, empty, stripped, strict=True)
        }
    )
