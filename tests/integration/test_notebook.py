"""notebooks/quickstart.ipynb runs top to bottom (small settings) and tells the story with the
figures a geochemist expects: survey points, an element map with deposits, training losses,
the detectors side by side, the top anomalies' driving elements, the P-A plot."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers.data import REPO

pytestmark = [pytest.mark.slow, pytest.mark.tf, pytest.mark.cluster]

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOGAN_QUICK", "1")
    monkeypatch.setenv("GEOGAN_NOTEBOOK_DIR", str(tmp_path / "nb"))
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # survey points, W grid, losses, the maps side by side, the P-A plot
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("roc_auc" in t and "mahalanobis" in t for t in tables)  # detectors side by side
    assert any("drivers" in t for t in tables)  # the top anomalies with their driving elements
    for name in ("alad", "mahalanobis"):
        assert (tmp_path / "nb" / "scores" / name / "anomaly.tif").is_file()
    assert os.path.getsize(tmp_path / "nb" / "scores" / "alad" / "report" / "pa.png") > 0
    assert (tmp_path / "nb" / "scores" / "alad" / "contributions.zarr").is_dir()
