"""The disclosure pages name electricity sub-items as the MOHURD energy item code table does."""

from __future__ import annotations

from api.disclosure import labels


def test_sub_item_labels_come_from_the_energy_item_code_table():
    # MOHURD 2008 energy data coding rules: 01A00 照明插座用电, 01B00 空调用电, 01C00 动力用电,
    # 01D00 特殊用电 (registry/data/energy_item_codes.csv), in that order on the pages.
    assert labels.SUB_ITEM == {
        "lighting_sockets": ("照明插座用电 01A00", "Lighting and sockets (01A00)"),
        "hvac": ("空调用电 01B00", "HVAC (01B00)"),
        "power": ("动力用电 01C00", "Power (01C00)"),
        "special": ("特殊用电 01D00", "Special (01D00)"),
    }
    assert set(labels.SUB_ITEM) == set(labels.SUB_ITEM_COLOUR)
