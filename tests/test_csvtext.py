"""The projection's CSV writer writes what csv.writer writes, to the byte."""

from __future__ import annotations

import csv
import io
import random

import numpy as np

from monitor.store.csvtext import csv_text

CELLS = [None, "", "a", "a,b", 'say "x"', "two\nlines", "cr\r", "\r\n", " pad ", "é", "\t", "ni=0.8512;co=0.1"]
CELLS += [0, -3, 10**20, True, False, 1.5, -0.0, 1e-300, 12345678901234.5, float("nan"), float("inf"), np.float64(0.1)]


def reference(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def test_random_rows_are_written_as_the_csv_module_writes_them() -> None:
    rng = random.Random(20)
    tried = 0
    for _ in range(20_000):
        rows = [[rng.choice(CELLS) for _ in range(rng.randint(0, 5))] for _ in range(rng.randint(0, 4))]
        assert csv_text(rows) == reference(rows), rows
        tried += len(rows)
    assert tried > 40_000


def test_a_row_of_one_empty_field_is_quoted_and_an_empty_row_is_a_bare_line() -> None:
    assert csv_text([[None], [""], [], ["x"]]) == '""\n""\n\nx\n' == reference([[None], [""], [], ["x"]])
