"""What a PV array could produce under a clear sky (pvlib), for the under-performance rule."""

from __future__ import annotations

import pandas as pd
import pvlib


def clear_sky_energy_kwh(*, latitude_deg: float, longitude_deg: float, capacity_kwp: float, tilt_deg: float,
                         azimuth_deg: float, hours: pd.DatetimeIndex, performance_ratio: float) -> pd.Series:
    """Clear-sky generation of each hour.

    Parameters
    ----------
    latitude_deg, longitude_deg : float
        Site. [deg]
    capacity_kwp : float
        Peak (STC) capacity. [kWp]
    tilt_deg, azimuth_deg : float
        Array orientation; azimuth 180 = due south. [deg]
    hours : pandas.DatetimeIndex
        Start of each hour, tz-aware.
    performance_ratio : float
        System losses from plane-of-array irradiance to AC energy. [-]

    Returns
    -------
    pandas.Series
        Energy per hour, on ``hours``. [kWh]

    Notes
    -----
    .. math:: E_h = P_{STC} \\cdot \\frac{G_{POA}}{1000\\,W/m^2} \\cdot PR \\cdot 1\\,h

    Irradiance is the Ineichen clear sky at the middle of the hour, transposed to the array
    plane with the isotropic sky model.
    """
    mid = hours + pd.Timedelta(minutes=30)
    site = pvlib.location.Location(latitude_deg, longitude_deg, tz="UTC")
    sky = site.get_clearsky(mid)
    sun = site.get_solarposition(mid)
    poa = pvlib.irradiance.get_total_irradiance(tilt_deg, azimuth_deg, sun["apparent_zenith"], sun["azimuth"],
                                                sky["dni"], sky["ghi"], sky["dhi"])["poa_global"]
    energy = capacity_kwp * poa.fillna(0).clip(lower=0) / 1000.0 * performance_ratio
    return pd.Series(energy.to_numpy(), index=hours)
