"""What PV arrays should have produced under the irradiance a weather station measured (pvlib)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib


def expected_energy_kwh(*, latitude_deg: float, longitude_deg: float, capacity_kwp: float, tilt_deg: float,
                        azimuth_deg: float, ghi_w_per_m2: pd.Series, performance_ratio: float) -> pd.Series:
    """Expected generation of each hour from the measured global horizontal irradiance.

    Parameters
    ----------
    latitude_deg, longitude_deg : float
        Site. [deg]
    capacity_kwp : float
        Peak (STC) capacity. [kWp]
    tilt_deg, azimuth_deg : float
        Array orientation; azimuth 180 = due south. [deg]
    ghi_w_per_m2 : pandas.Series
        Mean measured GHI of each hour, indexed by the hour's start (tz-aware). [W/m2]
    performance_ratio : float
        System losses from plane-of-array irradiance to AC energy. [-]

    Returns
    -------
    pandas.Series
        Energy per hour, on the same index. [kWh]

    Notes
    -----
    .. math:: E_h = P_{STC} \\cdot \\frac{G_{POA}}{1000\\,W/m^2} \\cdot PR \\cdot 1\\,h

    GHI is split into beam and diffuse with the Erbs model at the middle of the hour and
    transposed to the array plane with the isotropic sky model (the simulator's chain, so a
    healthy simulated array sits near a ratio of 1).
    """
    if ghi_w_per_m2.empty:
        return pd.Series(dtype=float)
    mid = ghi_w_per_m2.index + pd.Timedelta(minutes=30)
    site = pvlib.location.Location(latitude_deg, longitude_deg, tz="UTC")
    sun = site.get_solarposition(mid)
    ghi = ghi_w_per_m2.to_numpy(dtype=float).clip(min=0.0)
    split = pvlib.irradiance.erbs(ghi, sun["zenith"].to_numpy(), mid.day_of_year.to_numpy())
    poa = pvlib.irradiance.get_total_irradiance(tilt_deg, azimuth_deg, sun["apparent_zenith"].to_numpy(),
                                                sun["azimuth"].to_numpy(), np.asarray(split["dni"]), ghi,
                                                np.asarray(split["dhi"]), model="isotropic")["poa_global"]
    poa = np.nan_to_num(np.asarray(poa, dtype=float), nan=0.0).clip(min=0.0)
    return pd.Series(capacity_kwp * poa / 1000.0 * performance_ratio, index=ghi_w_per_m2.index)
