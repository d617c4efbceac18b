"""The MOHURD energy item codes (能耗分类分项编码) as data: ``registry/data/energy_item_codes.csv``.

Five characters: two digits for the category, a letter for the electricity sub-item (``0`` when
none), a digit for the first level, a letter for the second level (``0`` when none). Each row names
the platform ``carrier`` and ``sub_item`` (docs/glossary.md) the code maps to, empty where the
platform has no such carrier (total energy, other energy, kerosene, renewable energy), and the
``source`` of the row. The collector gateway, the registry import, the API and the disclosure read
the table through :func:`item_codes`; where PV or EV charging belong is not fixed by the guideline,
so it stays data here, not code.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from contract.vocabulary import Carrier, SubItem

ITEM_CODE_RE = re.compile(r"^[0-9]{2}[0-9A-Z][0-9][0-9A-Z]$")
TABLE = Path(__file__).resolve().parent / "data" / "energy_item_codes.csv"


@dataclass(frozen=True, slots=True)
class ItemCode:
    code: str
    level: int  # 0 total, 1 category, 2 sub-item, 3 first-level sub-item
    carrier: Carrier | None
    sub_item: SubItem | None
    name_zh: str
    name_en: str
    source: str


@lru_cache(maxsize=1)
def item_codes() -> dict[str, ItemCode]:
    """Code -> row of the table (read once)."""
    out = {}
    with TABLE.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            code = row["code"]
            if not ITEM_CODE_RE.match(code) or code in out:
                raise ValueError(f"{TABLE.name}: bad or repeated code {code!r}")
            out[code] = ItemCode(code, int(row["level"]), Carrier(row["carrier"]) if row["carrier"] else None,
                                 SubItem(row["sub_item"]) if row["sub_item"] else None,
                                 row["name_zh"], row["name_en"], row["source"])
    return out
