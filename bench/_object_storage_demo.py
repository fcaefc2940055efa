"""The demo chain (`geogan run demo`) on a 2-worker cluster of separate processes, each in its own
empty folder: outputs on local disk, then only in an S3 server (moto on 127.0.0.1); the anomaly
maps compared. A manual check of issue #22's first target (two full demo runs, ~17 min on 2
cores), so not a `--quick` benchmark (the leading underscore keeps `_quick.py` from running it):

    PYTHONPATH=. .venv/bin/python bench/_object_storage_demo.py

The last line printed is one JSON object: seconds, AUCs, and per map whether pixels, overviews
and CRS are identical.
"""
import json, os, sys, time, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if __name__ == "__main__":
    import numpy as np, rasterio, fsspec
    from tests.helpers.s3 import MotoS3, IsolatedCluster, environment
    from geogan.pipeline import load_spec, run_pipeline
    root = Path(tempfile.mkdtemp(prefix="demo-s3-"))
    moto = MotoS3()
    os.environ.update(moto.env)
    bucket = moto.new_bucket("geogan-demo")
    text = Path(__file__).resolve().parents[1] / "geogan" / "pipelines" / "demo.toml".read_text()
    figures = {}
    with environment(moto.env), IsolatedCluster(root / "cluster", env=moto.env, n_workers=2) as cluster:
        for where, out in (("local", str(root / "local-out")), ("s3", f"{bucket}/demo")):
            spec = root / f"{where}.toml"
            spec.write_text(text.replace('dir = "demo-output"', f'dir = "{out}"'))
            t = time.perf_counter()
            summary = run_pipeline(load_spec(spec, overrides={"cluster": {"scheduler": cluster.address}}), progress=False)
            figures[f"{where}_s"] = round(time.perf_counter() - t, 1)
            figures[f"{where}_auc"] = {k: (d.get("metrics") or {}).get("roc_auc") for k, d in summary["detectors"].items()}
            print(where, figures, flush=True)
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        same = {}
        for name in ("alad", "alad_w", "iforest", "mahalanobis"):
            local = root / "local-out" / "scores" / name / "anomaly.tif"
            remote = f"{bucket}/demo/scores/{name}/anomaly.tif"
            with rasterio.open(local) as a, fs.open(remote, "rb") as f, rasterio.open(f) as b:
                pix = np.array_equal(a.read(), b.read(), equal_nan=True)
                same[name] = {"pixels_bit_identical": bool(pix) and a.read().tobytes() == b.read().tobytes(),
                              "overviews": a.overviews(1) == b.overviews(1), "crs": a.crs == b.crs,
                              "bytes_identical": local.read_bytes() == fs.cat(remote)}
        figures["maps"] = same
        figures["workers_wrote"] = [str(p) for p in cluster.files_written()] if hasattr(cluster, "files_written") else None
    print(json.dumps(figures))
    moto.stop()
