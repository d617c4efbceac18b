"""Import and export of the registry: the fleet file (YAML/JSON) and a spreadsheet-like CSV pair.

An import is all or nothing: every bad row is reported with its file, line number, field and
reason, and the database is changed only when the whole input is valid.

CSV layout (docs/registry.md): ``buildings.csv`` has one row per building; ``devices.csv`` one row
per device with a ``device_kind`` column (``meter``, ``pv``, ``ev_pile``) and the columns of that
kind (others left empty). Empty cells take the fleet file's defaults.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from registry import repo
from registry.fleet import BuildingSpec, Fleet, MeterSpec, PileSpec, PvSpec
from storage.clip import clip

BUILDING_COLUMNS = ["building_code", "name", "floor_area_m2", "district", "climate_zone", "ownership",
                    "latitude_deg", "longitude_deg", "occupants", "year_built", "gateway_id"]
DEVICE_COLUMNS = ["building_code", "device_kind", "device_id", "carrier", "sub_item", "parent_device_id",
                  "capacity_kwp", "tilt_deg", "azimuth_deg", "has_grid_meter", "pile_kind",
                  "rated_power_kw", "installed_on", "replaced_on"]
_DEVICE_MODEL: dict[str, tuple[type[BaseModel], str]] = {
    "meter": (MeterSpec, "meters"),
    "pv": (PvSpec, "pv"),
    "ev_pile": (PileSpec, "ev_piles"),
}
_REQUIRED_BUILDING = {"building_code", "name", "floor_area_m2", "district", "latitude_deg", "longitude_deg"}
_REQUIRED_DEVICE = {"building_code", "device_kind", "device_id"}


@dataclass(frozen=True)
class RowError:
    """One problem in an input file; ``line`` is 1-based (the CSV header is line 1)."""

    file: str
    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


@dataclass
class ImportReport:
    buildings: int = 0
    devices: int = 0
    written: bool = False
    errors: list[RowError] = field(default_factory=list)
    #: What the import deletes (or, in a dry run, would delete): nothing is deleted by surprise.
    plan: repo.ImportPlan = field(default_factory=repo.ImportPlan)

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- fleet file
def read_fleet_file(path: Path | str) -> tuple[Fleet | None, list[RowError]]:
    """Parse and validate a fleet file, collecting every error with its line number."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RowError(name, 0, None, f"cannot read file: {exc}")]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        return None, [RowError(name, line, None, f"not valid YAML: {exc.problem}")]
    data = yaml.safe_load(text) if root is not None else None
    if not isinstance(data, dict) or not isinstance(data.get("buildings"), list):
        return None, [RowError(name, 1, "buildings", "the file must be a mapping with a 'buildings' list")]
    errors: list[RowError] = []
    top = {k: v for k, v in data.items() if k != "buildings"}
    try:
        Fleet.model_validate({**top, "buildings": []})
    except ValidationError as exc:
        errors += _pydantic_errors(exc, name, root, ())
    specs: list[BuildingSpec] = []
    for i, item in enumerate(data["buildings"]):
        # The parent check runs on the raw rows so it is reported even when other fields fail.
        meters = item.get("meters") if isinstance(item, dict) else None
        for j, fld, reason in _parent_errors(item.get("building_code") if isinstance(item, dict) else None,
                                            meters if isinstance(meters, list) else []):
            errors.append(RowError(name, _node_line(root, ("buildings", i, "meters", j)), fld, reason))
        try:
            specs.append(BuildingSpec.model_validate(item))
        except ValidationError as exc:
            errors += _pydantic_errors(exc, name, root, ("buildings", i))
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        line = _node_line(root, ("buildings", i))
        if spec.building_code in seen:
            errors.append(RowError(name, line, "building_code",
                                   f"{spec.building_code} already defined on line {seen[spec.building_code]}"))
        seen.setdefault(spec.building_code, line)
    if errors:
        return None, errors
    return Fleet(fleet_version=data.get("fleet_version", 1), buildings=specs), []


def _node_line(root: Any, loc: tuple) -> int:
    """Line of the deepest YAML node reachable along a pydantic error location."""
    node, line = root, (root.start_mark.line + 1 if root is not None else 0)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node, line = nxt, nxt.start_mark.line + 1
    return line


def _pydantic_errors(exc: ValidationError, name: str, root: Any, prefix: tuple) -> list[RowError]:
    out = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        field_path = ".".join(str(p) for p in err["loc"]) or None
        out.append(RowError(name, _node_line(root, loc), field_path,
                            f"{err['msg']} (got {_short(err.get('input'))})"))
    return out


def _short(value: Any) -> str:
    return clip(repr(value), 60)


def _parent_errors(code: str | None, meters: list) -> list[tuple[int, str, str]]:
    """(meter index, field, reason) for sub-meters whose parent is not another meter of the same
    building with the same carrier. Works on raw dicts so it runs before full validation."""
    rows = [m if isinstance(m, dict) else {} for m in meters]
    by_id = {m.get("device_id"): m for m in rows}
    out = []
    for j, m in enumerate(rows):
        parent_id = m.get("parent_device_id")
        if parent_id is None:
            continue
        parent = by_id.get(parent_id)
        if parent is None or parent_id == m.get("device_id"):
            out.append((j, "parent_device_id", f"{m.get('device_id')}: parent {parent_id!r} is not another "
                                               f"meter of {code}"))
        elif str(parent.get("carrier")) != str(m.get("carrier")):
            out.append((j, "parent_device_id", f"{m.get('device_id')}: parent {parent_id} measures "
                                               f"{parent.get('carrier')}, not {m.get('carrier')}"))
    return out


# --------------------------------------------------------------------------- CSV
def read_csv_pair(buildings_csv: Path | str, devices_csv: Path | str | None = None
                  ) -> tuple[Fleet | None, list[RowError]]:
    """Parse and validate the buildings CSV (and optional devices CSV)."""
    errors: list[RowError] = []
    bnames = Path(buildings_csv).name
    brows, e = _read_rows(Path(buildings_csv), BUILDING_COLUMNS, _REQUIRED_BUILDING)
    errors += e
    buildings: dict[str, tuple[int, dict]] = {}
    for line, row in brows:
        try:
            spec = BuildingSpec.model_validate(row)
        except ValidationError as exc:
            errors += [RowError(bnames, line, ".".join(map(str, err["loc"])) or None,
                                f"{err['msg']} (got {_short(err.get('input'))})") for err in exc.errors()]
            continue
        if spec.building_code in buildings:
            errors.append(RowError(bnames, line, "building_code", f"{spec.building_code} already defined "
                                                                  f"on line {buildings[spec.building_code][0]}"))
            continue
        buildings[spec.building_code] = (line, row)
    devices: dict[str, dict[str, list]] = defaultdict(lambda: {"meters": [], "pv": [], "ev_piles": []})
    device_lines: dict[tuple[str, str], int] = {}
    if devices_csv is not None:
        dname = Path(devices_csv).name
        drows, e = _read_rows(Path(devices_csv), DEVICE_COLUMNS, _REQUIRED_DEVICE)
        errors += e
        for line, row in drows:
            errors += _device_row(dname, line, row, buildings, devices, device_lines)
    specs = []
    for code, (line, row) in buildings.items():
        try:
            spec = BuildingSpec.model_validate({**row, **devices.get(code, {})})
        except ValidationError as exc:  # already reported row by row; keep as a safety net
            errors += [RowError(bnames, line, None, err["msg"]) for err in exc.errors()]
            continue
        meters = [m.model_dump(mode="json") for m in spec.meters]
        for j, fld, reason in _parent_errors(code, meters):
            errors.append(RowError(Path(devices_csv).name if devices_csv else bnames,
                                   device_lines.get((code, meters[j]["device_id"]), line), fld, reason))
        specs.append(spec)
    if errors:
        return None, sorted(errors, key=lambda r: (r.file, r.line))
    return Fleet(buildings=specs), []


def _device_row(name: str, line: int, row: dict, buildings: dict, devices: dict,
                device_lines: dict) -> list[RowError]:
    kind = row.pop("device_kind", None)
    code = row.pop("building_code", None)
    if kind not in _DEVICE_MODEL:
        return [RowError(name, line, "device_kind", f"{kind!r} is not one of {', '.join(_DEVICE_MODEL)}")]
    model, key = _DEVICE_MODEL[kind]
    extra = sorted(k for k in row if k not in model.model_fields)
    if extra:
        return [RowError(name, line, ",".join(extra), f"not a column of a {kind} row (leave it empty)")]
    errors = []
    if code not in buildings:
        errors.append(RowError(name, line, "building_code", f"{code!r} is not a building of the buildings file"))
    try:
        spec = model.model_validate(row)
    except ValidationError as exc:
        return errors + [RowError(name, line, ".".join(map(str, err["loc"])) or None,
                                  f"{err['msg']} (got {_short(err.get('input'))})") for err in exc.errors()]
    if (code, spec.device_id) in device_lines:
        errors.append(RowError(name, line, "device_id", f"{spec.device_id} already used in {code} on line "
                                                        f"{device_lines[(code, spec.device_id)]}"))
    if not errors:
        device_lines[(code, spec.device_id)] = line
        devices[code][key].append(spec.model_dump())
    return errors


def _read_rows(path: Path, columns: list[str], required: set[str]) -> tuple[list[tuple[int, dict]], list[RowError]]:
    """Rows as (line number, {column: value}) with empty cells dropped (so defaults apply)."""
    name = path.name
    try:
        fh = path.open(encoding="utf-8-sig", newline="")  # utf-8-sig: spreadsheets add a BOM
    except OSError as exc:
        return [], [RowError(name, 0, None, f"cannot read file: {exc}")]
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in columns]
        missing = sorted(required - set(header))
        errors = []
        if unknown:
            errors.append(RowError(name, 1, ",".join(unknown), f"unknown column(s); expected {columns}"))
        if missing:
            errors.append(RowError(name, 1, ",".join(missing), "required column(s) missing"))
        if errors:
            return [], errors
        rows = []
        try:
            for row in reader:
                if None in row:
                    errors.append(RowError(name, reader.line_num, None,
                                           f"{len(header) + len(row[None])} cells, header has {len(header)}"))
                    continue
                cells = {k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""}
                if cells:
                    rows.append((reader.line_num, cells))
        except (csv.Error, UnicodeDecodeError) as exc:
            errors.append(RowError(name, reader.line_num, None, f"unreadable CSV: {exc}"))
    return rows, errors


def write_csv_pair(fleet: Fleet, buildings_csv: Path | str, devices_csv: Path | str) -> None:
    """Export ``fleet`` as the CSV pair that :func:`read_csv_pair` reads back unchanged."""
    with Path(buildings_csv).open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, BUILDING_COLUMNS)
        w.writeheader()
        for b in fleet.buildings:
            w.writerow(_cells(b.model_dump(mode="json", include=set(BUILDING_COLUMNS))))
    with Path(devices_csv).open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, DEVICE_COLUMNS)
        w.writeheader()
        for b in fleet.buildings:
            for kind, (_model, key) in _DEVICE_MODEL.items():
                for d in getattr(b, key):
                    w.writerow(_cells({"building_code": b.building_code, "device_kind": kind,
                                       **d.model_dump(mode="json")}))


def _cells(row: dict) -> dict:
    return {k: "" if v is None else v for k, v in row.items()}


# --------------------------------------------------------------------------- into the database
def import_into(*, session: Session, fleet: Fleet | None, errors: list[RowError], prune: bool = False,
                replace_devices: bool = False, dry_run: bool = False) -> ImportReport:
    """Write a validated fleet (nothing at all if there are errors). The caller commits.

    ``report.plan`` lists every building and device the import deletes; a dry run fills it
    without writing."""
    report = ImportReport(errors=list(errors))
    if fleet is None or errors:
        return report
    report.buildings = len(fleet.buildings)
    report.devices = sum(len(b.meters) + len(b.pv) + len(b.ev_piles) for b in fleet.buildings)
    if dry_run:
        report.plan, _ = repo.plan_fleet_import(session=session, fleet=fleet, prune=prune,
                                                replace_devices=replace_devices)
    else:
        report.plan = repo.replace_fleet(session=session, fleet=fleet, prune=prune, replace_devices=replace_devices)
        report.written = True
    return report
