"""Flink SQL text from named parts: every column of a table, view or SELECT is written on its own line with its name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# A SELECT list: output column name -> SQL expression, in order. ``same(...)`` passes columns through unchanged.
Columns = Mapping[str, str]


@dataclass(frozen=True)
class Column:
    """A column of a table: its name, SQL type, and for a Kafka source a metadata clause (``METADATA VIRTUAL``)."""

    name: str
    sql_type: str
    metadata: str = ""

    def ddl(self) -> str:
        return f"{quoted(self.name)} {self.sql_type}" + (f" {self.metadata}" if self.metadata else "")


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def number(value: float) -> str:
    return repr(float(value))


def quoted(name: str) -> str:
    return f"`{name}`"


def same(*names: str) -> dict[str, str]:
    """Columns passed through under their own names."""
    return {name: quoted(name) for name in names}


def _select_item(name: str, expression: str) -> str:
    return quoted(name) if expression in (name, quoted(name)) else f"{expression} AS {quoted(name)}"


def select(columns: Columns, source: str, where: str | None = None) -> str:
    items = ",\n".join(f"  {_select_item(name, expression)}" for name, expression in columns.items())
    return f"SELECT\n{items}\nFROM {source}" + (f"\nWHERE {where}" if where else "")


def union_all(selects: Iterable[str]) -> str:
    return "\nUNION ALL\n".join(selects)


def create_view(name: str, query: str) -> str:
    return f"CREATE TEMPORARY VIEW {name} AS\n{query}"


def insert_into(table: str, query: str) -> str:
    return f"INSERT INTO {table}\n{query}"


def options(values: Mapping[str, str]) -> str:
    """The body of a WITH clause, one option a line."""
    return ",\n".join(f"  {literal(key)} = {literal(value)}" for key, value in values.items())


def create_table(
    name: str, columns: Sequence[Column], settings: Mapping[str, str], partitioned_by: Sequence[str] = ()
) -> str:
    body = ",\n".join(f"  {c.ddl()}" for c in columns)
    partitions = f"\nPARTITIONED BY ({', '.join(quoted(p) for p in partitioned_by)})" if partitioned_by else ""
    return f"CREATE TEMPORARY TABLE {name} (\n{body}\n){partitions}\nWITH (\n{options(settings)}\n)"
