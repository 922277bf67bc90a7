"""The SQL text helpers: named columns, one a line, and INSERTs that must name their table's columns in order."""

from __future__ import annotations

import pytest

from gridpipe_jobs.sql.common import DEAD_LETTERS, insert
from gridpipe_jobs.sql.text import Column, create_table, same, select

pytestmark = pytest.mark.unit


def test_select_writes_one_named_column_a_line() -> None:
    assert select({**same("meter_id", "current"), "x": "`voltage`", "payload": "`value`"}, "readings", "x > 1") == (
        "SELECT\n  `meter_id`,\n  `current`,\n  `voltage` AS `x`,\n  `value` AS `payload`\nFROM readings\nWHERE x > 1"
    )


def test_create_table_lists_columns_partitions_and_options() -> None:
    ddl = create_table("t", [Column("a", "INT"), Column("day", "STRING")], {"connector": "x"}, ("day",))
    assert ddl == (
        "CREATE TEMPORARY TABLE t (\n  `a` INT,\n  `day` STRING\n)\n"
        "PARTITIONED BY (`day`)\nWITH (\n  'connector' = 'x'\n)"
    )


def test_an_insert_whose_select_misses_or_reorders_a_column_is_refused() -> None:
    names = [c.name for c in DEAD_LETTERS.columns]
    swapped = [names[1], names[0], *names[2:]]
    with pytest.raises(ValueError, match="the SELECT into dead_letter_sink gives"):
        insert(DEAD_LETTERS, same(*swapped), "decoded")
    with pytest.raises(ValueError, match="the table takes"):
        insert(DEAD_LETTERS, same(*names[:-1]), "decoded")
    assert insert(DEAD_LETTERS, same(*names), "decoded").startswith("INSERT INTO dead_letter_sink\nSELECT\n  `reason`,")
