"""Read the real deposit files in ../shared/data (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geogan.evaluation.deposits import read_deposits
from tests.helpers.data import SHARED_DATA as DATA


@pytest.mark.realdata
def test_read_real_deposit_files():
    gtk = DATA / "gtk-lapland-till" / "iocg_deposits_prospects_occurrences_26.csv"
    gswa = DATA / "gswa-soil1" / "area6_soil_au_site.csv"
    if not gtk.exists() or not gswa.exists():
        pytest.skip(f"real data not found under {DATA} (read-only shared data absent)")
    # x_etrstm35fin/y_etrstm35fin auto-detected (projected columns win over lon/lat), grid CRS assumed
    d = read_deposits(gtk, crs="EPSG:3067")
    table = pd.read_csv(gtk)
    assert len(d) == 26
    np.testing.assert_allclose(d.x, table["x_etrstm35fin"], atol=1.0)
    np.testing.assert_allclose(d.y, table["y_etrstm35fin"], atol=1.0)
    # GSWA sites: lon/lat in columns named X/Y (GDA94), so the CRS must be named
    d = read_deposits(gswa, crs="EPSG:28350", input_crs="EPSG:4283")
    assert len(d) == 14 and np.all((d.x > 1e5) & (d.x < 9e5))
