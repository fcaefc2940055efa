"""notebooks/quickstart.ipynb runs top to bottom (small settings) and shows the map and P-A plot."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOGAN_QUICK", "1")
    monkeypatch.setenv("GEOGAN_NOTEBOOK_DIR", str(tmp_path / "nb"))
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the W grid, the anomaly map and the P-A plot
    assert (tmp_path / "nb" / "scores" / "anomaly.tif").is_file()
    assert os.path.getsize(tmp_path / "nb" / "scores" / "report" / "pa.png") > 0
