"""Simulate one building's devices over consecutive chunks of a timestamp grid.

The grid has a reading every ``step_ms``; the reading at ``ts`` closes the interval
``(ts - step_ms, ts]``, so interval energy belongs to the interval's end, as the platform stores it.
All randomness is counter-based (:mod:`simulators.noise`), and registers are carried from chunk to
chunk with the same left-to-right summation, so a year simulated at once and a year simulated a day
at a time give identical readings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from contract.localtime import local_midnight_ms
from contract.vocabulary import Carrier, DeviceKind, PileKind, SubItem
from registry.fleet import BuildingSpec
from simulators import ev, loads, noise, solar, weather
from simulators.calendar import calendar, day_to_date
from simulators.catalog import building_types

HOUR_MS = 3_600_000
#: Year whose hourly profile calibrates each shape to its annual target.
REFERENCE_YEAR = 2025
#: Register resolution on the wire: Wh, litres, and 1e-6 GJ (0.28 Wh).
REGISTER_DECIMALS = {"kWh": 3, "m3": 3, "GJ": 6}
#: Wire unit of a carrier's register (district heat in GJ, as heat meters show it).
REGISTER_UNIT = {Carrier.electricity: "kWh", Carrier.water: "m3", Carrier.natural_gas: "m3",
                 Carrier.district_heat: "GJ"}
GJ_PER_KWH = 3.6e-3
#: Day-to-day variation of a building's load (1 sigma) and interval-to-interval jitter. [-]
DAILY_SIGMA = 0.06
INTERVAL_SIGMA = 0.04


@dataclass
class DeviceFrame:
    """Readings of one device (or one stream of it) over a chunk, in wire units."""

    kind: DeviceKind
    device_id: str
    carrier: Carrier | None
    sub_item: SubItem | None
    units: dict[str, str]
    ts_ms: np.ndarray
    values: dict[str, np.ndarray]  # quantity -> numbers (or str for status)


@dataclass
class SessionFrame:
    """Session start/stop events of one pile in a chunk (stop events carry energy)."""

    device_id: str
    ts_ms: np.ndarray
    session_id: list[str]
    event: list[str]
    energy_kwh: np.ndarray  # NaN on start events
    pv_energy_kwh: np.ndarray  # NaN on start events


@dataclass
class BuildingChunk:
    building_code: str
    devices: list[DeviceFrame] = field(default_factory=list)
    sessions: list[SessionFrame] = field(default_factory=list)


def _targets(spec: BuildingSpec) -> dict[str, float]:
    """Annual targets in base units: electricity kWh, gas and water m3, heat kWh."""
    tr = building_types()[spec.building_code[6]]
    t = spec.simulation
    u = noise.uniform(noise.stable_key("targets", spec.building_code), np.arange(4))

    def pick(given: float | None, rng: tuple[float, float], ui: float) -> float:
        return given if given is not None else rng[0] + (rng[1] - rng[0]) * (0.2 + 0.6 * ui)

    a = spec.floor_area_m2
    return {
        "electricity": a * pick(t and t.electricity_eui_kwh_per_m2, tr.electricity_eui_kwh_per_m2, u[0]),
        "natural_gas": a * pick(t and t.gas_m3_per_m2, tr.gas_m3_per_m2, u[1]),
        "water": a * pick(t and t.water_m3_per_m2, tr.water_m3_per_m2, u[2]),
        "district_heat": a * pick(t and t.heat_kwh_per_m2, tr.heat_kwh_per_m2, u[3]),
    }


class BuildingSim:
    """One building's devices, advanced chunk by chunk from ``start_ms``.

    Parameters
    ----------
    spec : BuildingSpec
        The building as in the fleet file.
    seed : int
        Simulation seed. [-]
    start_ms : int
        Time of the first reading. [ms since epoch, UTC]
    step_ms : int
        Interval between readings. [ms]
    weather_station : str, optional
        Device id of a weather station on this building: it publishes the air temperature and the
        global horizontal irradiance that drive the loads and PV of its 0.5-degree cell.
    """

    def __init__(self, spec: BuildingSpec, seed: int, start_ms: int, step_ms: int,
                 weather_station: str | None = None):
        self.weather_station = weather_station
        self.spec = spec
        self.letter = spec.building_code[6]
        self.seed = seed
        self.step_ms = step_ms
        self.next_ts = start_ms
        self.start_ms = start_ms
        self.key = noise.stable_key("building", seed, spec.building_code)
        self.wkey = weather.weather_key(seed, spec.latitude_deg, spec.longitude_deg)
        self.targets = _targets(spec)
        self.shares = building_types()[self.letter].shares
        self._calibrate()
        self.cum: dict[tuple[str, str], float] = {}
        # Running integral of the PV-first share over time [h], for sessions spanning chunks.
        self._share_t, self._share_s = np.zeros(0, dtype=np.int64), np.zeros(0)
        self._init_registers(start_ms)

    # -- shapes -------------------------------------------------------------------------------
    def _shapes(self, ts_ms: np.ndarray, step_ms: int) -> dict[str, np.ndarray]:
        mid = ts_ms - step_ms // 2
        cal = calendar(mid)
        kt_day = weather.clear_sky_index_daily(self.wkey, cal.day)
        temp = weather.air_temperature(self.wkey, cal, self.spec.latitude_deg, kt_day)
        occ = loads.occupancy(self.letter, cal)
        daylight = kt_day * np.clip(np.sin(np.pi * (cal.hour - 6.5) / 12.5), 0.0, 1.0)
        daily = noise.per_day(cal.day, lambda d: 1.0 + DAILY_SIGMA * noise.normal(self.key ^ 0xDA1, d))
        out = {f"electricity:{k}": v * daily
               for k, v in loads.electricity_shapes(self.letter, cal, occ, temp, daylight).items()}
        out["natural_gas"] = loads.gas_shape(cal, occ, temp) * daily
        out["water"] = loads.water_shape(cal, occ) * daily
        out["district_heat"] = loads.heat_shape(cal, occ, temp) * daily
        out["_kt_day"], out["_temp"] = kt_day, temp
        return out

    def _calibrate(self) -> None:
        # Scale = annual target / annual integral of the shape on an hourly reference year.
        t0 = local_midnight_ms(dt.date(REFERENCE_YEAR, 1, 1)) + HOUR_MS
        ts = t0 + HOUR_MS * np.arange(8760, dtype=np.int64)
        shapes = self._shapes(ts, HOUR_MS)
        self.scale_kw: dict[str, float] = {}
        for name, shape in shapes.items():
            if name.startswith("_"):
                continue
            carrier, _, sub = name.partition(":")
            target = self.targets[carrier] * (self.shares[sub] if sub else 1.0)
            self.scale_kw[name] = target / float(shape.sum())  # per hour of shape -> per hour of use

    def _init_registers(self, start_ms: int) -> None:
        # A meter shows what it counted since installation: offset + 1.5 times the mean rate,
        # so a later run over a later period starts above where this one ends.
        years = lambda d: max((start_ms - local_midnight_ms(d)) / (365.25 * 24 * HOUR_MS), 0.0)  # noqa: E731
        for m in self.spec.meters:
            annual = self.targets[m.carrier.value] if m.carrier.value in self.targets else 0.0
            base = 1.5 * annual * years(m.installed_on) * self._meter_share(m)
            off = 1000.0 * float(noise.uniform(self.key ^ noise.stable_key(m.device_id), 0))
            self.cum[(m.device_id, "register")] = base + off
        for p in self.spec.pv:
            y = years(p.installed_on)
            self.cum[(p.device_id, "generation_register")] = 2000.0 * p.capacity_kwp * y
            self.cum[(p.device_id, "to_grid_register")] = 500.0 * p.capacity_kwp * y
            self.cum[(p.device_id, "from_grid_register")] = 2.0 * self.targets["electricity"] * y
        for e in self.spec.ev_piles:
            self.cum[(e.device_id, "register")] = 2000.0 * e.rated_power_kw * years(e.installed_on)

    def _meter_share(self, m) -> float:
        same = [x for x in self.spec.meters if x.carrier is m.carrier and x.sub_item is m.sub_item]
        share = 1.0 / len(same)
        if m.carrier is Carrier.electricity and m.sub_item is not SubItem.main:
            share *= self.shares[m.sub_item.value]
        return share

    # -- stepping -----------------------------------------------------------------------------
    def _register(self, device_id: str, quantity: str, energy: np.ndarray) -> np.ndarray:
        key = (device_id, quantity)
        run = np.cumsum(np.concatenate([[self.cum[key]], energy]))[1:]
        if len(run):
            self.cum[key] = float(run[-1])
        return run

    def advance(self, n: int) -> BuildingChunk:
        """Readings of the next ``n`` grid timestamps of every device."""
        step, step_h = self.step_ms, self.step_ms / HOUR_MS
        ts = self.next_ts + step * np.arange(n, dtype=np.int64)
        self.next_ts = int(self.next_ts + step * n)
        shapes = self._shapes(ts, step)
        minute = ts // 60_000
        out = BuildingChunk(self.spec.building_code)
        installed = lambda d: ts > local_midnight_ms(d)  # noqa: E731
        sub_energy = {}
        for sub in ("lighting_sockets", "hvac", "power", "special"):
            name = f"electricity:{sub}"
            jitter = 1.0 + INTERVAL_SIGMA * noise.jitter(self.key ^ noise.stable_key(sub), minute)
            sub_energy[sub] = self.scale_kw[name] * shapes[name] * jitter.clip(min=0.5) * step_h
        self._inject(ts, sub_energy)
        load = sum(sub_energy.values())
        ev_energy, ev_frames = self._piles(ts, shapes)
        pv_energy = np.zeros(n)
        for p in self.spec.pv:
            kt = self._kt(shapes["_kt_day"], minute)
            pkw = p.capacity_kwp * solar.pv_power_per_kwp(self.spec.latitude_deg, self.spec.longitude_deg,
                                                          p.tilt_deg, p.azimuth_deg, int(ts[0]), n, step,
                                                          kt, shapes["_temp"])
            e = pkw * step_h * installed(p.installed_on) * self._pv_health(ts)
            pv_energy = pv_energy + e
            reg = self._register(p.device_id, "generation_register", e)
            out.devices.append(DeviceFrame(
                DeviceKind.pv_inverter, p.device_id, None, None,
                {"generation_register": "kWh", "power": "kW"}, ts,
                {"generation_register": np.round(reg, 3), "power": np.round(e / step_h, 3)}))
        total_ev = sum(ev_energy.values()) if ev_energy else np.zeros(n)
        surplus = (pv_energy - load).clip(min=0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            pv_share = np.where(total_ev > 0, np.minimum(1.0, surplus / total_ev), 0.0)
        grid = next((p for p in self.spec.pv if p.has_grid_meter), None)
        if grid is not None:
            to_grid = (pv_energy - load - total_ev).clip(min=0.0)
            from_grid = (load + total_ev - pv_energy).clip(min=0.0)
            out.devices.append(DeviceFrame(
                DeviceKind.pv_meter, grid.device_id, None, None,
                {"to_grid_register": "kWh", "from_grid_register": "kWh", "power": "kW"}, ts,
                {"to_grid_register": np.round(self._register(grid.device_id, "to_grid_register", to_grid), 3),
                 "from_grid_register": np.round(self._register(grid.device_id, "from_grid_register",
                                                               from_grid), 3),
                 "power": np.round((from_grid - to_grid) / step_h, 3)}))
        # The main meter is the parent of the four sub-meters: the building's load, whatever share PV
        # supplies. Piles have their own meters; grid import is the PV grid meter's from_grid.
        out.devices[:0] = self._meters(ts, minute, shapes, sub_energy, load)
        out.devices.extend(ev_frames)
        if self.weather_station is not None:
            out.devices.append(self._weather_frame(ts, minute, shapes))
        out.sessions.extend(self._session_frames(ts, pv_share))
        return out

    def _meters(self, ts, minute, shapes, sub_energy, load) -> list[DeviceFrame]:
        step_h = self.step_ms / HOUR_MS
        installed = lambda d: ts > local_midnight_ms(d)  # noqa: E731
        frames = []
        for m in self.spec.meters:
            c = m.carrier
            if c is Carrier.electricity:
                e = load if m.sub_item is SubItem.main else sub_energy[m.sub_item.value]
            elif c.value in self.scale_kw:
                jitter = 1.0 + INTERVAL_SIGMA * noise.jitter(self.key ^ noise.stable_key(c.value), minute)
                e = self.scale_kw[c.value] * shapes[c.value] * jitter.clip(min=0.5) * step_h
            else:
                raise ValueError(f"{self.spec.building_code}/{m.device_id}: the simulator has no profile for "
                                 f"carrier {c.value!r} (it simulates electricity, water, natural_gas, "
                                 f"district_heat)")
            e = e * self._share_within(m) * installed(m.installed_on)
            unit = REGISTER_UNIT[c]
            reg = self._register(m.device_id, "register", e)
            if unit == "GJ":
                reg = reg * GJ_PER_KWH
            values = {"register": np.round(reg, REGISTER_DECIMALS[unit])}
            units = {"register": unit}
            if c is Carrier.electricity:
                values["power"] = np.round(e / step_h, 3)
                units["power"] = "kW"
            frames.append(DeviceFrame(DeviceKind.meter, m.device_id, c, m.sub_item, units, ts, values))
        return frames

    def _inject(self, ts: np.ndarray, sub_energy: dict[str, np.ndarray]) -> None:
        """The fleet file's injected ground truth: a retrofit's HVAC saving and a night load left on."""
        t = self.spec.simulation
        if t is None:
            return
        step_h = self.step_ms / HOUR_MS
        mid = ts - self.step_ms // 2
        if t.retrofit_on is not None and t.retrofit_hvac_saving > 0:
            after = mid >= local_midnight_ms(t.retrofit_on + dt.timedelta(days=1))
            sub_energy["hvac"] = np.where(after, sub_energy["hvac"] * (1 - t.retrofit_hvac_saving), sub_energy["hvac"])
        if t.night_load_from is not None and t.night_load_kw > 0:
            hour = ((mid + 8 * HOUR_MS) % 86_400_000) / HOUR_MS
            on = (mid >= local_midnight_ms(t.night_load_from)) & ((hour >= 20) | (hour < 6))
            sub_energy["lighting_sockets"] = sub_energy["lighting_sockets"] + on * t.night_load_kw * step_h

    def _pv_health(self, ts: np.ndarray) -> np.ndarray | float:
        t = self.spec.simulation
        if t is None or t.pv_failure_from is None or t.pv_failure_share <= 0:
            return 1.0
        failed = (ts - self.step_ms // 2) >= local_midnight_ms(t.pv_failure_from)
        return np.where(failed, 1 - t.pv_failure_share, 1.0)

    def _weather_frame(self, ts, minute, shapes) -> DeviceFrame:
        kt = self._kt(shapes["_kt_day"], minute)
        ghi = solar.ghi_w_per_m2(self.spec.latitude_deg, self.spec.longitude_deg, int(ts[0]), len(ts),
                                 self.step_ms, kt)
        return DeviceFrame(DeviceKind.weather_station, self.weather_station, None, None,
                           {"air_temperature": "degC", "ghi": "W/m2"}, ts,
                           {"air_temperature": np.round(shapes["_temp"], 2), "ghi": np.round(ghi, 1)})

    def _share_within(self, m) -> float:
        same = [x for x in self.spec.meters if x.carrier is m.carrier and x.sub_item is m.sub_item]
        return 1.0 / len(same)

    def _kt(self, kt_day: np.ndarray, minute: np.ndarray) -> np.ndarray:
        # Broken-cloud days flicker; clear and overcast days are steady.
        flicker = noise.normal(self.wkey ^ 0xF11C, minute // 5)
        return (kt_day * (1.0 + 0.5 * kt_day * (1.0 - kt_day) * flicker)).clip(0.05, 1.05)

    def _pile_sessions(self, pile, first_day: int, last_day: int) -> ev.Sessions:
        key = self.key ^ noise.stable_key("pile", pile.device_id)
        return ev.sessions_for_days(key, self.letter, PileKind(pile.pile_kind), pile.rated_power_kw,
                                    first_day, last_day)

    def _piles(self, ts: np.ndarray, shapes) -> tuple[dict[str, np.ndarray], list[DeviceFrame]]:
        energies, frames = {}, []
        t_prev = np.concatenate([[ts[0] - self.step_ms], ts])
        first_day, last_day = int((t_prev[0] + 8 * HOUR_MS) // 86_400_000), int((ts[-1] + 8 * HOUR_MS) // 86_400_000)
        self._sessions_cache = {}
        for pile in self.spec.ev_piles:
            s = self._pile_sessions(pile, first_day, last_day)
            s = _after_install(s, local_midnight_ms(pile.installed_on))
            self._sessions_cache[pile.device_id] = s
            e = np.diff(ev.cumulative_energy_kwh(s, t_prev))
            energies[pile.device_id] = e
            power = ev.charging_at(s, ts)
            reg = self._register(pile.device_id, "register", e)
            frames.append(DeviceFrame(
                DeviceKind.ev_pile, pile.device_id, None, None, {"register": "kWh", "power": "kW"}, ts,
                {"register": np.round(reg, 3), "power": np.round(power, 3),
                 "status": np.where(power > 0, "charging", "idle")}))
        return energies, frames

    def _session_frames(self, ts: np.ndarray, pv_share: np.ndarray) -> list[SessionFrame]:
        out = []
        lo, hi = int(ts[0] - self.step_ms), int(ts[-1])
        # Integral of the PV share over time, exact under linear interpolation (share is constant
        # within an interval): a session's PV energy is power x integral over its span.
        # Sessions last less than a day, so 26 h of history covers one begun in an earlier chunk.
        base = self._share_s[-1] if len(self._share_s) else 0.0
        run = np.cumsum(np.concatenate([[base], pv_share * self.step_ms / HOUR_MS]))
        if len(self._share_t) == 0:
            self._share_t, self._share_s = np.array([lo]), run[:1]
        keep = self._share_t > hi - 26 * HOUR_MS
        self._share_t = np.concatenate([self._share_t[keep], ts])
        self._share_s = np.concatenate([self._share_s[keep], run[1:]])
        grid, share_int_h = self._share_t, self._share_s
        for pile in self.spec.ev_piles:
            s = self._sessions_cache[pile.device_id]
            # Events in (lo, hi] belong to this chunk, as readings do; none before the run starts.
            lo_ev = max(lo, self.start_ms - 1)
            starts = (s.start_ms > lo_ev) & (s.start_ms <= hi)
            stops = (s.stop_ms > lo_ev) & (s.stop_ms <= hi)
            sid = [f"{pile.device_id}-{day_to_date(d):%Y%m%d}-{k}" for d, k in zip(s.day, s.slot, strict=True)]
            pv = s.power_kw * (np.interp(s.stop_ms, grid, share_int_h) - np.interp(s.start_ms, grid, share_int_h))
            ts_ev = np.concatenate([s.start_ms[starts], s.stop_ms[stops]])
            order = np.argsort(ts_ev, kind="stable")
            ids = [sid[i] for i in np.flatnonzero(starts)] + [sid[i] for i in np.flatnonzero(stops)]
            events = ["start"] * int(starts.sum()) + ["stop"] * int(stops.sum())
            energy = np.concatenate([np.full(int(starts.sum()), np.nan), np.round(s.energy_kwh[stops], 3)])
            pv_e = np.concatenate([np.full(int(starts.sum()), np.nan), np.round(pv[stops], 3)])
            if len(ts_ev):
                out.append(SessionFrame(pile.device_id, ts_ev[order], [ids[i] for i in order],
                                        [events[i] for i in order], energy[order], pv_e[order]))
        return out


def _after_install(s: ev.Sessions, installed_ms: int) -> ev.Sessions:
    keep = s.start_ms > installed_ms
    return ev.Sessions(*(a[keep] for a in (s.start_ms, s.stop_ms, s.power_kw, s.day, s.slot)))
