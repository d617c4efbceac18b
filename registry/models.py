"""SQLAlchemy 2 models of the building registry: buildings and their devices.

Names follow docs/glossary.md: ``building_code`` (MOHURD 2008), ``device_id``, ``carrier``,
``sub_item``; physical quantities carry their unit (``floor_area_m2``, ``capacity_kwp``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.schema import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Building(Base):
    __tablename__ = "building"

    building_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: BuildingType value derived from the code's letter, stored for indexed filtering.
    building_type: Mapped[str] = mapped_column(String(20), index=True)
    floor_area_m2: Mapped[float] = mapped_column(Float)
    climate_zone: Mapped[str] = mapped_column(String(40))
    ownership: Mapped[str] = mapped_column(String(40), index=True)
    district: Mapped[str] = mapped_column(String(100), index=True)
    latitude_deg: Mapped[float] = mapped_column(Float)
    longitude_deg: Mapped[float] = mapped_column(Float)
    occupants: Mapped[int] = mapped_column(Integer, default=0)
    year_built: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gateway_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The fleet file's optional simulator targets; stored only so an export round-trips.
    simulation: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    meters: Mapped[list[Meter]] = relationship(
        back_populates="building", cascade="all, delete-orphan", order_by="Meter.id")
    pv_systems: Mapped[list[PvSystem]] = relationship(
        back_populates="building", cascade="all, delete-orphan", order_by="PvSystem.id")
    charging_piles: Mapped[list[ChargingPile]] = relationship(
        back_populates="building", cascade="all, delete-orphan", order_by="ChargingPile.id")

    @property
    def district_code(self) -> str:
        """The 6-digit administrative division code at the start of the building code."""
        return self.building_code[:6]


class _Device:
    """Columns every device table shares; a device id is unique within its building."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    installed_on: Mapped[dt.date] = mapped_column(Date)
    #: Exchanged for a new device under the same id on this local day (a register reset's evidence).
    replaced_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True, default=None)


class Meter(_Device, Base):
    __tablename__ = "meter"
    __table_args__ = (UniqueConstraint("building_code", "device_id"),)

    building_code: Mapped[str] = mapped_column(
        ForeignKey("building.building_code", ondelete="CASCADE"), index=True)
    carrier: Mapped[str] = mapped_column(String(30))
    #: Electricity only; ``main`` for the incoming (grid) meter.
    sub_item: Mapped[str | None] = mapped_column(String(30), nullable=True)
    #: device_id of the main meter this sub-meter hangs under, same building.
    parent_device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    building: Mapped[Building] = relationship(back_populates="meters")


class PvSystem(_Device, Base):
    __tablename__ = "pv_system"
    __table_args__ = (UniqueConstraint("building_code", "device_id"),)

    building_code: Mapped[str] = mapped_column(
        ForeignKey("building.building_code", ondelete="CASCADE"), index=True)
    capacity_kwp: Mapped[float] = mapped_column(Float)
    tilt_deg: Mapped[float] = mapped_column(Float, default=25)
    azimuth_deg: Mapped[float] = mapped_column(Float, default=180)
    has_grid_meter: Mapped[bool] = mapped_column(Boolean, default=True)

    building: Mapped[Building] = relationship(back_populates="pv_systems")


class ChargingPile(_Device, Base):
    __tablename__ = "charging_pile"
    __table_args__ = (UniqueConstraint("building_code", "device_id"),)

    building_code: Mapped[str] = mapped_column(
        ForeignKey("building.building_code", ondelete="CASCADE"), index=True)
    pile_kind: Mapped[str] = mapped_column(String(20))
    rated_power_kw: Mapped[float] = mapped_column(Float)

    building: Mapped[Building] = relationship(back_populates="charging_piles")


class WeatherStation(Base):
    """A weather station: it publishes under its host building's code (``weather`` measurement).

    No foreign key to ``building``: re-importing the fleet replaces building rows, and the
    station and its assignments must survive that.
    """

    __tablename__ = "weather_station"
    __table_args__ = (UniqueConstraint("host_building_code", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_building_code: Mapped[str] = mapped_column(String(10))
    device_id: Mapped[str] = mapped_column(String(64))
    latitude_deg: Mapped[float] = mapped_column(Float)
    longitude_deg: Mapped[float] = mapped_column(Float)
    installed_on: Mapped[dt.date] = mapped_column(Date)


class WeatherAssignment(Base):
    """Which station's weather stands for a building, or for every building of a district.

    Exactly one of ``building_code`` and ``district`` is set; a building's own assignment wins
    over its district's.
    """

    __tablename__ = "weather_assignment"
    __table_args__ = (
        CheckConstraint("(building_code IS NULL) <> (district IS NULL)", name="one_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("weather_station.id", ondelete="CASCADE"), index=True)
    building_code: Mapped[str | None] = mapped_column(String(10), nullable=True, unique=True)
    district: Mapped[str | None] = mapped_column(String(100), nullable=True, unique=True)


class Retrofit(Base):
    """An energy-saving retrofit of a building (IPMVP Option C verification, analytics/savings.py).

    No foreign key to ``building``, like the weather tables: a fleet re-import must not delete it.
    """

    __tablename__ = "retrofit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    building_code: Mapped[str] = mapped_column(String(10), index=True)
    #: Local day the works were completed; the reporting period starts the day after.
    completed_on: Mapped[dt.date] = mapped_column(Date)
    measures: Mapped[str] = mapped_column(String(500))
    carrier: Mapped[str] = mapped_column(String(30), default="electricity")
    #: The saving the project promised, as a share of the baseline's use of ``carrier``. [-]
    expected_saving_share: Mapped[float] = mapped_column(Float)


class Collector(Base):
    """A MOHURD data collector (数据采集器) of a building, known by (building_code, gateway_id).

    ``key_sealed`` is the shared key encrypted with the platform's key secret (registry/keys.py):
    the gateway needs the clear key to check the MD5 answer and to decrypt, so it cannot be a hash.
    """

    __tablename__ = "collector"
    __table_args__ = (UniqueConstraint("building_code", "gateway_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    building_code: Mapped[str] = mapped_column(
        ForeignKey("building.building_code", ondelete="CASCADE"), index=True)
    gateway_id: Mapped[str] = mapped_column(String(64))
    key_sealed: Mapped[str] = mapped_column(String(400))
    #: Readings timed before this local day are refused.
    installed_on: Mapped[dt.date] = mapped_column(Date)

    points: Mapped[list[CollectorPoint]] = relationship(
        back_populates="collector", cascade="all, delete-orphan", order_by="CollectorPoint.id")


class CollectorPoint(Base):
    """Where one function of one meter of a collector goes: a registry meter and a contract quantity."""

    __tablename__ = "collector_point"
    __table_args__ = (UniqueConstraint("collector_id", "meter_id", "function_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("collector.id", ondelete="CASCADE"), index=True)
    meter_id: Mapped[str] = mapped_column(String(32))  # meter@id in the packets
    function_id: Mapped[str] = mapped_column(String(32))  # function@id in the packets
    item_code: Mapped[str] = mapped_column(String(5))  # function@coding expected
    device_id: Mapped[str] = mapped_column(String(64))  # a meter of the building
    quantity: Mapped[str] = mapped_column(String(30))  # register, consumption or power
    unit: Mapped[str] = mapped_column(String(10))  # the unit the collector reports in

    collector: Mapped[Collector] = relationship(back_populates="points")
