"""Reference tables shipped as data (analytics/data/*.csv), each row with its source and a
``verified`` flag (docs/reference.md: unverified values are data, never bare constants in code).

This module is the only place in analytics/ that reads files; the indicator functions receive
the loaded tables as arguments. Every loader takes an optional path so a city can supply its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"

BASES = ("equivalent_gbt2589", "equal_value")
DEFAULT_BASIS = "equivalent_gbt2589"
#: A quota row whose source holds this text is a placeholder, never a standard.
EXAMPLE_MARK = "EXAMPLE VALUE"


def _read(path: Path, required: list[str]) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    bad = df.index[~df["verified"].isin(["yes", "no"])]
    if len(bad):
        raise ValueError(f"{path}: line {bad[0] + 2}: verified must be 'yes' or 'no', got "
                         f"{df.loc[bad[0], 'verified']!r}")
    return df


def _numeric(df: pd.DataFrame, path: Path, cols: list[str]) -> pd.DataFrame:
    for c in cols:
        values = pd.to_numeric(df[c], errors="coerce")
        bad = values.index[values.isna()]
        if len(bad):
            raise ValueError(f"{path}: line {bad[0] + 2}: {c} {df.loc[bad[0], c]!r} is not a number")
        df[c] = values
    return df


@dataclass(frozen=True)
class CoalFactorTable:
    """Conversion factors to standard coal [kgce per base unit of the carrier]."""

    version: str
    rows: pd.DataFrame  # carrier, basis, region, factor, unit, source, verified

    def factor(self, carrier: str, *, basis: str = DEFAULT_BASIS, region: str | None = None) -> float:
        """Factor for ``carrier`` on ``basis``; a regional row wins over the national ``CN`` row.

        Raises ``ValueError`` naming the carrier, basis and the regions the table has.
        """
        if basis not in BASES:
            raise ValueError(f"basis {basis!r} is not one of {BASES}")
        rows = self.rows[(self.rows.carrier == carrier) & self.rows.basis.isin([basis, "*"])]
        for reg in ([region] if region else []) + ["CN"]:
            hit = rows[rows.region == reg]
            if len(hit):
                return float(hit.factor.iloc[0])
        have = sorted(rows.region.unique())
        raise ValueError(f"no {basis} factor for carrier {carrier!r} in region {region or 'CN'!r} "
                         f"(table {self.version} has regions {have}); pass region=")

    def factors(self, *, basis: str = DEFAULT_BASIS, region: str | None = None) -> dict[str, float]:
        """Every carrier's factor on ``basis`` [kgce per base unit]."""
        return {c: self.factor(c, basis=basis, region=region) for c in self.rows.carrier.unique()
                if c != "electricity"} | {"electricity": self.factor("electricity", basis=basis, region=region)}


@lru_cache(maxsize=8)
def coal_factors(path: Path | str | None = None) -> CoalFactorTable:
    """Load the GB/T 2589-2020 factor table (one ``table_version`` per file)."""
    p = Path(path) if path else DATA_DIR / "coal_factors.csv"
    df = _numeric(_read(p, ["table_version", "carrier", "basis", "region", "factor", "unit", "source",
                            "verified"]), p, ["factor"])
    versions = df.table_version.unique()
    if len(versions) != 1:
        raise ValueError(f"{p}: one table_version per file, found {sorted(versions)}")
    return CoalFactorTable(version=str(versions[0]), rows=df)


@dataclass(frozen=True)
class GridFactor:
    factor_kgco2_per_kwh: float
    year: int
    region: str
    source: str
    verified: bool


@dataclass(frozen=True)
class GridFactorTable:
    rows: pd.DataFrame  # year, region, factor_kgco2_per_kwh, variant, source, verified

    def lookup(self, *, year: int, region: str | None = None) -> GridFactor:
        """The factor for ``year`` and ``region``: the region's row for that year or its latest
        earlier year, else the national ``CN`` row the same way, else the earliest national row.
        The returned year/region say which row was used."""
        for reg in ([region] if region else []) + ["CN"]:
            rows = self.rows[(self.rows.region == reg) & (self.rows.year <= year)]
            if len(rows):
                return self._row(rows.sort_values("year").iloc[-1])
        national = self.rows[self.rows.region == "CN"].sort_values("year")
        if not len(national):
            raise ValueError("grid emission factor table has no national 'CN' row")
        return self._row(national.iloc[0])

    @staticmethod
    def _row(r: pd.Series) -> GridFactor:
        return GridFactor(float(r.factor_kgco2_per_kwh), int(r.year), str(r.region), str(r.source),
                          r.verified == "yes")


@lru_cache(maxsize=8)
def grid_factors(path: Path | str | None = None) -> GridFactorTable:
    p = Path(path) if path else DATA_DIR / "grid_emission_factors.csv"
    df = _read(p, ["year", "region", "factor_kgco2_per_kwh", "source", "verified"])
    return GridFactorTable(_numeric(df, p, ["year", "factor_kgco2_per_kwh"]).astype({"year": int}))


@lru_cache(maxsize=8)
def quota_table(path: Path | str | None = None) -> pd.DataFrame:
    """Energy-use-intensity quotas: building_type, climate_zone, metric, constraint_value,
    guide_value, source, verified, and ``is_example`` (the source says ``EXAMPLE VALUE``). The
    shipped values are EXAMPLES: :func:`analytics.intensity.lookup_quota` never uses them as a
    standard. A city supplies its own table (``path``) with real rows."""
    p = Path(path) if path else DATA_DIR / "eui_quota.csv"
    df = _numeric(_read(p, ["building_type", "climate_zone", "metric", "constraint_value", "guide_value",
                            "source", "verified"]), p, ["constraint_value", "guide_value"])
    bad = df.index[df.guide_value > df.constraint_value]
    if len(bad):
        raise ValueError(f"{p}: line {bad[0] + 2}: guide_value above constraint_value")
    df["is_example"] = df.source.str.contains(EXAMPLE_MARK, case=False, regex=False)
    return df


@lru_cache(maxsize=8)
def plan_targets(path: Path | str | None = None) -> pd.DataFrame:
    """Plan targets: indicator, year, target, comparison (``>=``, ``>``, ``<=``), scope, source."""
    p = Path(path) if path else DATA_DIR / "plan_targets.csv"
    df = pd.read_csv(p, dtype={"indicator": str, "comparison": str})
    bad = df.index[~df.comparison.isin([">=", ">", "<=", "<"])]
    if len(bad):
        raise ValueError(f"{p}: line {bad[0] + 2}: comparison {df.loc[bad[0], 'comparison']!r}")
    return df
