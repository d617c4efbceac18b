"""Precision and recall of the explained alert rules over a simulated city year (2026).

Run: ``python -m bench.alerts_precision [--size 12] [--seed 11]``. A generated fleet is simulated in
process on an hourly grid over 2025-2026 with its weather stations; about a third of the buildings
get a night load left on (10-50 % of their mean daily use, 20:00-06:00) and a third of those with PV
a PV failure (30-60 % of the strings), each from a random day between March and October 2026 on
(fleet-file simulation targets). Every Monday of 2026 the engine's rules judge the week before, with
the baseline refitted weekly on the 365 days before the judged week (as the schedule does), except
while a ``use_above_expected`` alert is open: then, as the engine does, the baseline from before
the week that opened it (``--no-hold`` judges with the newest refit always, which lets a long fault
become its own baseline). A building-week is positive for a fault when the fault was active on any
judged day. Prints Markdown; nothing is asserted (docs/alerts.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random

import numpy as np
from tests.api.test_alerts_weather import _now

from analytics.baseline import fit_baseline
from api.alerts.context import default_context
from api.alerts.engine import run_rules
from simulators.fleetgen import generate_fleet
from tests.api.alerts.simweek import SimulatedBuilding

RULES_FOR = {"night_load": ("use_above_expected", "night_base_load"), "pv_failure": ("pv_underperformance",)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=12)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-hold", action="store_true", help="always judge with the newest weekly refit")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    fleet = generate_fleet(args.seed, args.size)
    ctx = default_context()
    mondays = [dt.date(2026, 1, 5) + dt.timedelta(weeks=k) for k in range(52)]
    counts: dict[str, list[int]] = {}  # rule -> [tp, fp, fn, tn, judged weeks]
    injected = []
    for spec in fleet.buildings:
        roll = rnd.random()
        start = dt.date(2026, 3, 1) + dt.timedelta(days=rnd.randrange(245))
        healthy = SimulatedBuilding(spec, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
        mean_day = float(np.nanmean(healthy.daily()["use"]))
        sim = spec.simulation
        fault = None
        if roll < 1 / 3:
            kw = rnd.uniform(0.10, 0.50) * mean_day / 10.0
            sim = sim.model_copy(update={"night_load_from": start, "night_load_kw": round(kw, 1)})
            fault = ("night_load", start, f"{kw:,.0f} kW")
        elif roll < 2 / 3 and spec.pv:
            share = rnd.uniform(0.3, 0.6)
            sim = sim.model_copy(update={"pv_failure_from": start, "pv_failure_share": round(share, 2)})
            fault = ("pv_failure", start, f"{share:.0%}")
        injected.append((spec.building_code, fault))
        sb = SimulatedBuilding(spec.model_copy(update={"simulation": sim}), dt.date(2025, 1, 1), dt.date(2027, 1, 5))
        daily = sb.daily()
        held: dt.date | None = None  # first day of the week that opened the open use alert
        for monday in mondays:
            week_start = monday - dt.timedelta(days=7)
            anchor = held or week_start
            fit = fit_baseline(daily, start=anchor - dt.timedelta(days=365), end=anchor)
            inputs = sb.inputs(_now(monday), fit)
            inputs.fit_held_since = held
            found, judged = run_rules(inputs, ctx=ctx, now=_now(monday), year_frac=0.5)
            fired = {f.rule.value for f in found}
            if "use_above_expected" in judged and not args.no_hold:
                held = (held or week_start) if "use_above_expected" in fired else None
            for kind, rules in RULES_FOR.items():
                positive = fault is not None and fault[0] == kind and fault[1] < monday
                for rule in rules:
                    if rule not in judged:
                        continue
                    c = counts.setdefault(rule, [0, 0, 0, 0, 0])
                    c[4] += 1
                    hit = rule in fired
                    c[0 if hit and positive else 1 if hit else 2 if positive else 3] += 1
    print(f"Fleet seed {args.seed}, {args.size} buildings, 52 judged weeks of 2026; injected:")
    for code, fault in injected:
        print(f"- {code}: {'none' if fault is None else f'{fault[0]} from {fault[1]} ({fault[2]})'}")
    print("\n| rule | judged building-weeks | TP | FP | FN | TN | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for rule, (tp, fp, fn, tn, n) in counts.items():
        prec = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
        rec = f"{tp / (tp + fn):.2f}" if tp + fn else "-"
        print(f"| `{rule}` | {n} | {tp} | {fp} | {fn} | {tn} | {prec} | {rec} |")


if __name__ == "__main__":
    main()
