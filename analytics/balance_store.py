"""The building balance by local month and by year in the SQL database, beside InfluxDB's
``building_1mo``: what the annual indicators, the audit list and one building's page read.

Why a table: a whole-year read of every building from InfluxDB 1.6 costs per series and per field
(10,000 buildings x 29 fields are 290,000 cursors), so it grows with the city; rows of a table
keyed by (year, building) read 100,000 buildings in a fraction of that
(docs/benchmarks/analytics.md, "Which store").

One definition: the balance is computed once (:mod:`analytics.balance`) and the rollup job's
month step (:func:`analytics.rollup.rollup_month`) writes the month it has just summed into
``building_1mo`` here too, from the same frame, and re-sums the year's months into
``balance_year`` in the same transaction, so the year row is always the sum of the stored months.
A database whose months were rolled up before this table existed lacks them: the readers take
each month of a window that is not here from InfluxDB (:func:`stored_months`), so a year read
after an upgrade in July is still the whole year; re-rolling the past with
``python -m analytics rollup --from <first day>`` fills the table and makes those reads fast.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

from analytics.balance import BALANCE_FIELDS
from storage.schema import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)
#: More codes than this read every building and select in pandas: SQLite limits bound parameters.
MAX_CODES_IN_SQL = 500


def _fields() -> list[Column]:
    return [Column(f, Float, nullable=False) for f in BALANCE_FIELDS]


#: One row per building and local month (``month``: its first day), the month's balance.
balance_month = Table("balance_month", metadata, Column("month", Date, primary_key=True),
                      Column("building_code", String(32), primary_key=True), *_fields())
#: One row per building and local calendar year: the sum of its months in ``balance_month``.
balance_year = Table("balance_year", metadata, Column("year", Integer, primary_key=True),
                     Column("building_code", String(32), primary_key=True), *_fields())


def write_month(engine: Engine, month: dt.date, frame: pd.DataFrame) -> int:
    """Replace ``month``'s rows with ``frame`` (index ``building_code``, every balance field: what
    the month step summed) and re-sum the month's year; returns rows written."""
    first = month.replace(day=1)
    values = frame[list(BALANCE_FIELDS)].astype(float).to_numpy().tolist()
    year_start, year_end = dt.date(first.year, 1, 1), dt.date(first.year + 1, 1, 1)
    m = balance_month.c
    sums = (select(literal(first.year, Integer), m.building_code, *(func.sum(m[f]) for f in BALANCE_FIELDS))
            .where(m.month >= year_start, m.month < year_end).group_by(m.building_code))
    with engine.begin() as c:  # one transaction: a reader never sees the month without its year
        c.execute(delete(balance_month).where(m.month == first))
        if values:
            to_db = balance_month.c.month.type.bind_processor(c.dialect)  # SQLite: an ISO string
            day = to_db(first) if to_db else first
            executemany_rows(c, balance_month, [(day, str(code), *v) for code, v in zip(frame.index, values,
                                                                                       strict=True)])
        c.execute(delete(balance_year).where(balance_year.c.year == first.year))
        c.execute(insert(balance_year).from_select(["year", "building_code", *BALANCE_FIELDS], sums))
    return len(values)


def executemany_rows(c: Connection, table: Table, rows: list[tuple]) -> None:
    """Insert ``rows`` (tuples in the table's column order, values already as the driver takes
    them) with the driver's executemany. Why not ``c.execute(insert(table), dicts)``: SQLAlchemy's
    per-row parameter handling cost 10 s for 20,000 rows x 31 columns on the loaded machine, this
    1.9 s (year re-sum included)."""
    if not rows:
        return
    stmt = insert(table).compile(dialect=c.dialect)
    names = [col.name for col in table.c]
    if c.dialect.positional and list(stmt.positiontup) == names:
        c.exec_driver_sql(str(stmt), rows)
    else:
        c.exec_driver_sql(str(stmt), [dict(zip(names, r, strict=True)) for r in rows])


def month_starts(first: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the local months in ``[first, end)`` (both first days of a month)."""
    out, m = [], first.replace(day=1)
    while m < end:
        out.append(m)
        m = (m + dt.timedelta(days=32)).replace(day=1)
    return out


def stored_months(session: Session, months: list[dt.date]) -> list[dt.date]:
    """Those of ``months`` the month step has written here (one index seek each). A month is written
    whole (every building of it in one transaction), so a month with a row is complete; a month
    without one was rolled up before the table existed, or has no data yet."""
    m = balance_month.c
    return [d for d in months if session.execute(select(m.month).where(m.month == d).limit(1)).first()]


def read_months(session: Session, months: list[dt.date], *, codes: list[str] | None = None,
                fields: tuple[str, ...] = BALANCE_FIELDS) -> pd.DataFrame:
    """Each building's balance summed over ``months`` (first days, all stored: :func:`stored_months`):
    index ``building_code``, the ``fields`` columns; only ``codes`` when given. The twelve months of
    a calendar year read its one ``balance_year`` row per building. Buildings without a row are
    absent, as in InfluxDB."""
    m = balance_month.c
    if codes is not None and len(codes) > MAX_CODES_IN_SQL:
        df = read_months(session, months, fields=fields)
        return df[df.index.isin(codes)]
    years = {d.year for d in months}
    if len(months) == 12 and len(years) == 1:
        y = balance_year.c
        q = select(y.building_code, *(y[f] for f in fields)).where(y.year == years.pop())
        if codes is not None:
            q = q.where(y.building_code.in_(codes))
    else:
        q = (select(m.building_code, *(func.sum(m[f]) for f in fields))
             .where(m.month.in_(months)).group_by(m.building_code))
        if codes is not None:
            q = q.where(m.building_code.in_(codes))
    rows = session.execute(q).all()
    # Plain tuples: pandas probes each SQLAlchemy Row for attributes, and every miss raises inside
    # SQLAlchemy (most of the read at 30,000 buildings, cProfile).
    df = pd.DataFrame([tuple(r) for r in rows], columns=["building_code", *fields]).set_index("building_code")
    return df.astype(float)
