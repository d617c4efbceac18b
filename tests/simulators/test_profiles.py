"""Statistical sanity of a simulated year (issue 3): ranges, shapes, PV geometry, balances."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.vocabulary import DeviceKind
from simulators.calendar import calendar
from simulators.catalog import building_types

SUB_ITEMS = ["lighting_sockets", "hvac", "power", "special"]


def _frame(chunk, kind, device_id=None):
    return next(f for f in chunk.devices if f.kind is kind and (device_id is None or f.device_id == device_id))


def _elec_daily(df, code):
    m = df[(df.building_code == code) & (df.measurement == "meter") & (df.carrier == "electricity")]
    return m.pivot_table(index="date", columns="sub_item", values="consumption_kwh", aggfunc="sum")


def test_annual_energy_within_type_range(year_fleet, year_run):
    _, df = year_run
    types = building_types()
    meters = df[df.measurement == "meter"]
    checked = 0
    for b in year_fleet.buildings:
        tr = types[b.building_code[6]]
        mine = meters[meters.building_code == b.building_code]
        elec = mine[(mine.carrier == "electricity") & mine.sub_item.isin(SUB_ITEMS)].consumption_kwh.sum()
        lo, hi = tr.electricity_eui_kwh_per_m2
        assert lo <= elec / b.floor_area_m2 <= hi, (b.building_code, elec / b.floor_area_m2, (lo, hi))
        for carrier, rng in (("water", tr.water_m3_per_m2), ("natural_gas", tr.gas_m3_per_m2)):
            vol = mine[mine.carrier == carrier].consumption_m3.sum()
            if vol > 0:
                assert rng[0] <= vol / b.floor_area_m2 <= rng[1], (b.building_code, carrier, vol / b.floor_area_m2)
                checked += 1
    assert checked >= len(year_fleet.buildings)  # every building has water, many also gas


def test_fleet_has_audit_buildings_above_and_far_below(year_fleet, year_run):
    _, df = year_run
    m = df[(df.measurement == "meter") & (df.sub_item != "main")]
    elec = m[m.carrier == "electricity"].groupby("building_code").consumption_kwh.sum()
    gas = m[m.carrier == "natural_gas"].groupby("building_code").consumption_m3.sum().reindex(elec.index).fillna(0)
    tce = (elec * 0.1229 + gas * 1.2143) / 1000.0  # kgce/kWh and kgce/m3 (GB/T 2589-2020) -> t
    assert (elec >= 5_000_000).any(), elec.max()
    by_total_only = (tce >= 1000) & (elec < 5_000_000)
    assert by_total_only.any(), tce[elec < 5_000_000].max()  # the gas hotel: ~479 + ~619 tce
    assert (tce < 100).any()  # "well below": under a tenth of the threshold


def test_sub_items_add_up_to_main_meter(year_run):
    _, df = year_run
    for code in df.building_code.unique():
        daily = _elec_daily(df, code)
        # Each register is rounded to 1 Wh; a day's sum of differences telescopes, so the
        # difference stays within a few Wh per meter.
        diff = (daily[SUB_ITEMS].sum(axis=1) - daily["main"]).abs()
        assert diff.max() < 0.01, (code, diff.max())


def test_office_weekday_above_weekend(year_fleet, year_run):
    _, df = year_run
    offices = [b.building_code for b in year_fleet.buildings if b.building_code[6] == "A"]
    assert offices
    for code in offices:
        total = _elec_daily(df, code)[SUB_ITEMS].sum(axis=1)
        cal = calendar((total.index - pd.Timestamp("1970-01-01")) // pd.Timedelta("1ms") + 12 * 3_600_000)
        workday, off = total[cal.workday].mean(), total[~cal.workday].mean()
        assert workday > 1.5 * off, (code, workday, off)


def test_hospital_runs_at_night_school_empties_in_summer(year_fleet, year_run):
    chunks, df = year_run
    hosp = next(b.building_code for b in year_fleet.buildings if b.building_code[6] == "E")
    office = next(b.building_code for b in year_fleet.buildings if b.building_code[6] == "A")
    school = next(b.building_code for b in year_fleet.buildings if b.building_code[6] == "D")

    def night_to_day(code):
        subs = [f for f in chunks[code].devices if f.kind is DeviceKind.meter and f.sub_item is not None
                and f.sub_item.value in SUB_ITEMS]
        hour = calendar(subs[0].ts_ms - 450_000).hour
        p = sum(f.values["power"] for f in subs)
        return p[(hour >= 1) & (hour < 5)].mean() / p[(hour >= 10) & (hour < 16)].mean()

    assert night_to_day(hosp) > 0.5 > night_to_day(office)
    main = _elec_daily(df, school)[SUB_ITEMS].sum(axis=1)
    summer = main[(main.index.month == 8)].mean()
    term = main[(main.index.month >= 9) & (main.index.month <= 11)].mean()
    assert summer < 0.7 * term, (summer, term)


def test_pv_zero_at_night_peak_near_noon_more_in_summer(year_fleet, year_run):
    chunks, df = year_run
    with_pv = [b for b in year_fleet.buildings if b.pv]
    assert with_pv
    for b in with_pv:
        f = _frame(chunks[b.building_code], DeviceKind.pv_inverter)
        hour = calendar(f.ts_ms - 450_000).hour
        p = f.values["power"]
        assert p[(hour < 5) | (hour > 21)].max() == 0.0
        by_hour = pd.Series(p).groupby(np.floor(hour)).mean()
        # Solar noon in Leshan (103.8 E, UTC+8) is about 12:55 local time.
        assert 12 <= by_hour.idxmax() <= 13, by_hour.idxmax()
        pv = df[(df.building_code == b.building_code) & (df.measurement == "pv")].set_index("date")
        summer = pv.generation_kwh[pv.index.month.isin([6, 7, 8])].sum()
        winter = pv.generation_kwh[pv.index.month.isin([12, 1, 2])].sum()
        assert summer > 1.3 * winter, (summer, winter)
        # Annual yield per kWp: plausible for the Sichuan basin (clear-sky ~1900, cloudy city).
        yield_kwh_per_kwp = pv.generation_kwh.sum() / b.pv[0].capacity_kwp
        assert 700 < yield_kwh_per_kwp < 1400, yield_kwh_per_kwp


def test_grid_balance_and_pv_split(year_fleet, year_run):
    _, df = year_run
    for b in (b for b in year_fleet.buildings if b.pv):
        mine = df[df.building_code == b.building_code]
        pv = mine[mine.measurement == "pv"].set_index("date")
        main = _elec_daily(df, b.building_code)["main"]
        ev = mine[mine.measurement == "ev_pile"].set_index("date").consumption_kwh.reindex(main.index).fillna(0)
        # Energy conservation at the grid point: PV + import - export = building + piles.
        lhs = pv.generation_kwh + pv.from_grid_kwh - pv.to_grid_kwh
        err = (lhs - (main + ev)).abs()
        assert err.max() < 0.02, (b.building_code, err.max())
        assert ((pv.self_consumed_kwh >= -1e-6) & (pv.self_consumed_kwh <= pv.generation_kwh + 1e-6)).all()


def test_ev_sessions_match_pile_registers(year_fleet, year_run):
    chunks, df = year_run
    with_piles = [b for b in year_fleet.buildings if b.ev_piles]
    assert with_piles
    for b in with_piles:
        for pile in b.ev_piles:
            reg = _frame(chunks[b.building_code], DeviceKind.ev_pile, pile.device_id).values["register"]
            sess = [s for s in chunks[b.building_code].sessions if s.device_id == pile.device_id]
            stops = np.concatenate([s.energy_kwh[np.array(s.event) == "stop"] for s in sess])
            pv = np.concatenate([s.pv_energy_kwh[np.array(s.event) == "stop"] for s in sess])
            # The register also counts the part of a session still running at the last reading
            # (its stop record falls after the run): at most one session, <= 65 kWh.
            extra = (reg[-1] - reg[0]) - stops.sum()
            assert -0.001 * len(stops) <= extra <= 65.0 + 0.001 * len(stops), extra
            assert (pv <= stops + 1e-6).all() and (pv >= 0).all()
            starts = np.concatenate([np.array(s.event) == "start" for s in sess]).sum()
            # Every start has its stop, except a session still charging when the run ends.
            assert 0 <= starts - len(stops) <= 1 and len(stops) > 100
