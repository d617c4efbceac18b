"""The MOHURD energy item code table (registry/data/energy_item_codes.csv), read-only."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser
from registry.itemcodes import item_codes

router = APIRouter(prefix="/item-codes", tags=["item codes"])


class ItemCodeOut(BaseModel):
    code: str
    level: int
    carrier: str | None
    sub_item: str | None
    name_zh: str
    name_en: str
    source: str


@router.get("", response_model=list[ItemCodeOut])
def list_item_codes(_: CurrentUser) -> list[ItemCodeOut]:
    """Every code with the platform carrier and sub-item it maps to and the source of the row."""
    return [ItemCodeOut(code=c.code, level=c.level, carrier=c.carrier.value if c.carrier else None,
                        sub_item=c.sub_item.value if c.sub_item else None, name_zh=c.name_zh, name_en=c.name_en,
                        source=c.source) for c in item_codes().values()]
