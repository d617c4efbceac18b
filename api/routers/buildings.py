"""Buildings and their devices: read for every role (facility managers: assigned ones only),
create, update and import for administrators."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from api.deps import AdminUser, BuildingCodeDep, ScopeDep, SessionDep
from api.errors import APIError, not_found
from api.listing import CSV_RESPONSES, FilterDep, Page, PageDep, respond
from api.schemas import BuildingOut, DeviceOut, ImportResult
from registry import importer, repo
from registry.fleet import BuildingSpec

router = APIRouter(prefix="/buildings", tags=["buildings"])


def scoped_buildings(session, scope, filt):
    return repo.list_buildings(session=session, district=filt.district, ownership=filt.ownership,
                               building_type=filt.building_type.value if filt.building_type else None,
                               codes=scope)


@router.get("", response_model=Page[BuildingOut], responses=CSV_RESPONSES)
@router.get("/export.csv", response_model=Page[BuildingOut], responses=CSV_RESPONSES,
            name="export_buildings")
def list_buildings(session: SessionDep, scope: ScopeDep, filt: FilterDep, page: PageDep):
    """Buildings the caller may see, ordered by code."""
    rows = scoped_buildings(session, scope, filt)
    return respond([BuildingOut.of(b) for b in rows], BuildingOut, page, "buildings")


@router.get("/{building_code}", response_model=BuildingOut)
def get_building(session: SessionDep, building_code: BuildingCodeDep) -> BuildingOut:
    b = repo.get_building(session=session, building_code=building_code)
    if b is None:
        raise not_found("building", building_code, "building_code")
    return BuildingOut.of(b)


@router.get("/{building_code}/devices", response_model=Page[DeviceOut], responses=CSV_RESPONSES)
@router.get("/{building_code}/devices/export.csv", response_model=Page[DeviceOut],
            responses=CSV_RESPONSES, name="export_building_devices")
def list_devices(session: SessionDep, building_code: BuildingCodeDep, page: PageDep):
    """Meters, PV systems and charging piles of one building."""
    b = repo.get_building(session=session, building_code=building_code)
    if b is None:
        raise not_found("building", building_code, "building_code")
    return respond(DeviceOut.all_of(b), DeviceOut, page, f"devices-{building_code}")


@router.post("", response_model=BuildingOut, status_code=201)
def create_building(session: SessionDep, _: AdminUser, spec: BuildingSpec) -> BuildingOut:
    if repo.get_building(session=session, building_code=spec.building_code) is not None:
        raise APIError(409, "conflict", f"building {spec.building_code} exists; use PUT to replace it",
                       "building_code")
    row = repo.upsert_building(session=session, spec=spec)
    session.commit()
    return BuildingOut.of(repo.get_building(session=session, building_code=row.building_code))


@router.put("/{building_code}", response_model=BuildingOut)
def replace_building(session: SessionDep, _: AdminUser, building_code: BuildingCodeDep,
                     spec: BuildingSpec) -> BuildingOut:
    """Replace a building and its whole device list (the body is a fleet-file building)."""
    if spec.building_code != building_code:
        raise APIError(422, "invalid_value", f"building_code in the body ({spec.building_code}) differs "
                       f"from the path ({building_code})", "building_code")
    if repo.get_building(session=session, building_code=building_code) is None:
        raise not_found("building", building_code, "building_code")
    repo.upsert_building(session=session, spec=spec)
    session.commit()
    return BuildingOut.of(repo.get_building(session=session, building_code=building_code))


@router.post("/import", response_model=ImportResult)
def import_buildings(
    session: SessionDep, _: AdminUser,
    buildings: Annotated[UploadFile | None, File(description="buildings.csv (registry CSV layout)")] = None,
    devices: Annotated[UploadFile | None, File(description="devices.csv, with buildings")] = None,
    fleet: Annotated[UploadFile | None, File(description="a fleet file, YAML or JSON")] = None,
    replace_devices: Annotated[bool, Query(description="delete stored devices of a listed building that the "
                                                        "input does not name (default: keep them)")] = False,
    prune: Annotated[bool, Query(description="delete buildings that the input does not list")] = False,
) -> ImportResult:
    """Create or replace buildings with the registry's importer: a CSV pair or a fleet file.
    All or nothing: one bad row and nothing is written; the error names file, line and field."""
    if (buildings is None) == (fleet is None):
        raise APIError(422, "invalid_value", "send either buildings (+ devices) CSV or a fleet file",
                       "buildings")
    with tempfile.TemporaryDirectory() as tmp:
        def save(up: UploadFile, default: str) -> Path:
            # Keep only the base name's suffix: the upload's name is caller input.
            suffix = Path(up.filename or default).suffix.lower()
            path = Path(tmp) / f"{default}{suffix if suffix in ('.csv', '.yaml', '.yml', '.json') else ''}"
            path.write_bytes(up.file.read())
            return path
        if fleet is not None:
            parsed, errors = importer.read_fleet_file(save(fleet, "fleet"))
        else:
            parsed, errors = importer.read_csv_pair(save(buildings, "buildings"),
                                                    save(devices, "devices") if devices else None)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more: " + "; ".join(map(str, errors[1:6])) + ")" if len(errors) > 1 else ""
        raise APIError(422, "invalid_value", f"{first}{more}", first.field)
    report = importer.import_into(session=session, fleet=parsed, errors=[], prune=prune,
                                  replace_devices=replace_devices)
    session.commit()
    return ImportResult(buildings_written=report.buildings, devices_written=report.devices,
                        building_codes=[b.building_code for b in parsed.buildings],
                        buildings_deleted=report.plan.buildings_deleted,
                        devices_deleted=[f"{b}/{d}" for b, d in report.plan.devices_deleted])
