"""``geogan score --out s3://...``: the score folder in object storage (moto's S3 server on
127.0.0.1, :func:`tests.conftest.s3_server`), against a local run of the same grid and model.

The model is trained locally (a PCA, :func:`tests.scoring.conftest.pca_dir`); the LocalCluster's
worker processes inherit this process's environment, so they reach the bucket as it does."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geogan.errors import OutputExistsError
from geogan.evaluation.deposits import Deposits
from geogan.scoring.stage import score_grid
from geogan.stores.remote import Remote, join
from geogan.stores.scores import open_contributions_store, open_scores_store
from tests.helpers.cli import cli

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

EVAL = dict(runs=2, min_dist_km=0.6)


@pytest.fixture(scope="module")
def bucket(s3_server):
    return s3_server.new_bucket("geogan-score")


@pytest.fixture(scope="module")
def deposits(small_grid):
    spec = small_grid.spec
    rows, cols = zip(*small_grid.deposits, strict=True)
    return Deposits.from_xy(spec.x_coords()[list(cols)], spec.y_coords()[list(rows)], crs=spec.crs)


@pytest.fixture(scope="module")
def local(small_grid, pca_dir, deposits, tmp_path_factory):
    """The score folder written on disk: what the bucket's must equal."""
    out = tmp_path_factory.mktemp("remote-score-local") / "scores"
    return score_grid(small_grid.path, pca_dir, out, deposits=deposits, workers=1, progress=False, **EVAL)


@pytest.fixture(scope="module")
def remote(small_grid, pca_dir, deposits, bucket):
    out = f"{bucket}/scores"
    return score_grid(small_grid.path, pca_dir, out, deposits=deposits, workers=1, progress=False, **EVAL)


def _local_names(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _without_sources(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("scores_source", "deposits_source")}


def test_the_bucket_holds_every_output_of_a_local_run_and_the_same_scores(local, remote, bucket, tmp_path):
    assert remote.out_dir == f"{bucket}/scores" and remote.cog == f"{bucket}/scores/anomaly.tif"
    assert Remote(remote.out_dir).names() == _local_names(local.out_dir)  # nothing more (no staging, no lock)
    assert not Remote(f"{bucket}/scores.lock").exists() and not Remote(f"{bucket}/scores/scores.zarr.partial").exists()
    got, want = open_scores_store(remote.scores), open_scores_store(local.scores)
    np.testing.assert_array_equal(got["anomaly"].values, want["anomaly"].values)
    assert remote.n_cells_scored == local.n_cells_scored and remote.class_breaks == local.class_breaks
    marker = Remote(remote.out_dir).read_json(".geogan")
    assert marker["kind"] == "score" and set(marker["entries"]) == {
        "scores.zarr/", "anomaly.tif", "anomaly.qml", "anomaly_polygons.gpkg", "anomaly_polygons.qml", "report/"}
    for name in ("anomaly.qml", "anomaly_polygons.qml"):
        assert Remote(remote.out_dir).read_bytes(name) == (local.out_dir / name).read_bytes()
    import pyogrio

    polygons = tmp_path / "anomaly_polygons.gpkg"  # (a GeoPackage records when it was written: not its bytes)
    polygons.write_bytes(Remote(remote.out_dir).read_bytes("anomaly_polygons.gpkg", limit=1 << 30))
    (got_meta, _, got_shapes, got_fields), (meta, _, shapes, fields) = map(pyogrio.raw.read, (polygons, local.polygons))
    assert len(got_shapes) == len(shapes) > 0 and list(got_shapes) == list(shapes) and got_meta["crs"] == meta["crs"]
    for got_field, field in zip(got_fields, fields, strict=True):
        np.testing.assert_array_equal(got_field, field)


def test_the_marker_objects_are_written_last(remote):
    loc = Remote(remote.out_dir)
    stamps = {n: loc.fs.info(f"{loc.key}/{n}")["LastModified"] for n in loc.names()}
    assert stamps[".geogan"] == max(stamps.values())
    assert stamps["report/.geogan"] == max(v for k, v in stamps.items() if k.startswith("report/"))


def test_the_cog_in_the_bucket_is_the_local_runs_byte_for_byte_and_valid(local, remote, tmp_path, s3_server):
    import rasterio
    from rio_cogeo.cogeo import cog_validate

    loc = Remote(remote.cog)
    copy = tmp_path / "anomaly.tif"
    loc.fs.get_file(loc.key, str(copy))
    assert copy.read_bytes() == local.cog.read_bytes()
    valid, errors, _ = cog_validate(str(copy), quiet=True)
    assert valid and not errors
    with rasterio.open(local.cog) as want, rasterio.open(loc.key, opener=loc.fs) as got:  # read from the bucket
        assert got.tags() == want.tags() and got.tags()["variable"] == "anomaly"
        assert got.crs == want.crs and got.nodata is not None and np.isnan(got.nodata) and np.isnan(want.nodata)
        assert got.overviews(1) == want.overviews(1) and got.descriptions == want.descriptions
        np.testing.assert_array_equal(got.read(1), want.read(1))
    host = s3_server.endpoint.removeprefix("http://")
    vsis3 = {"AWS_S3_ENDPOINT": host, "AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE"}
    valid, errors, _ = cog_validate(f"/vsis3/{loc.key}", config=vsis3, quiet=True)  # GDAL's own S3 reader
    assert valid and not errors


def test_the_report_in_the_bucket_says_what_the_local_one_does(local, remote, s3_server):
    assert remote.report == f"{remote.out_dir}/report"
    report = Remote(remote.report)
    assert report.names() == _local_names(local.report)
    assert report.read_json(".geogan")["kind"] == "report"
    metrics, want = report.read_json("metrics.json"), json.loads((local.report / "metrics.json").read_text())
    assert metrics["detectors"]["pca"]["scores_source"] == f"{remote.out_dir}/scores.zarr"
    assert _without_sources(metrics["detectors"]["pca"]) == _without_sources(want["detectors"]["pca"])
    assert metrics["curves"] == want["curves"] and metrics["deposits"] == want["deposits"]
    assert _without_sources(remote.metrics) == _without_sources(local.metrics)
    secret = s3_server.env["AWS_SECRET_ACCESS_KEY"].encode()
    for name in ("index.html", "metrics.json"):  # no credentials in what is published
        assert secret not in report.read_bytes(name)


def test_a_rerun_is_refused_without_overwrite_and_leaves_the_folder_alone(small_grid, pca_dir, remote):
    before = Remote(remote.out_dir).names()
    with pytest.raises(OutputExistsError, match="scores/anomaly.tif exists; pass --overwrite"):
        score_grid(small_grid.path, pca_dir, remote.out_dir, workers=1, progress=False)
    assert Remote(remote.out_dir).names() == before


def test_overwrite_replaces_geogans_outputs_drops_stale_maps_and_keeps_the_users(small_grid, pca_dir, local,
                                                                                   deposits, bucket):
    out = f"{bucket}/rescored"
    first = score_grid(small_grid.path, pca_dir, out, min_elements=3, contributions=True, deposits=deposits,
                       workers=1, progress=False, **EVAL)
    assert open_contributions_store(first.contributions)["contribution"].shape[0] == 5
    metrics = Remote(first.report).read_json("metrics.json")  # the contributions read back from the bucket
    top = metrics["top_anomalies"]["pca"]
    assert [(r["row"], r["col"], r["drivers"]) for r in top] == [(r["row"], r["col"], r["drivers"])
                                                                for r in first.top_anomalies] and len(top) == 10
    assert all(row["drivers"] for row in metrics["deposits"]["pca"])
    assert metrics["detectors"]["pca"]["elements_used"] == {str(k): v for k, v in first.metrics["elements_used"].items()}
    assert set(first.metrics["elements_used"]) == {4, 5}  # the strip without Mo: imputed, read from the bucket
    names = Remote(out).names()
    assert "elements_used.tif" in names and "contributions.zarr/zarr.json" in names
    Remote(out).write_bytes("notes.txt", b"mine")  # the user's, beside geogan's outputs
    res = cli("score", small_grid.path, "--model", pca_dir, "--out", out + "/", "--overwrite", "--workers", "1")
    assert res.exit_code == 0, res.output
    assert f"map      {out}/anomaly.tif (QGIS style anomaly.qml)" in res.stdout
    names = Remote(out).names()
    assert "elements_used.tif" not in names and not any(n.startswith("contributions.zarr") for n in names)
    assert Remote(out).read_bytes("notes.txt") == b"mine"
    np.testing.assert_array_equal(open_scores_store(join(out, "scores.zarr"))["anomaly"].values,
                                  open_scores_store(local.scores)["anomaly"].values)
    assert set(Remote(out).read_json(".geogan")["entries"]) >= {"scores.zarr/", "anomaly.tif"}
    Remote(out).write_bytes("scores.zarr/notes.txt", b"mine too")  # inside geogan's store: refused
    with pytest.raises(OutputExistsError, match="holds notes.txt, which geogan did not write"):
        score_grid(small_grid.path, pca_dir, out, overwrite=True, workers=1, progress=False)
    assert Remote(out).read_bytes("scores.zarr/notes.txt") == b"mine too"


def test_a_users_map_in_the_prefix_is_never_replaced(small_grid, pca_dir, bucket):
    out = f"{bucket}/theirs"
    Remote(out).write_bytes("anomaly.tif", b"not a geogan map")
    with pytest.raises(OutputExistsError, match="anomaly.tif exists and geogan did not write it"):
        score_grid(small_grid.path, pca_dir, out, overwrite=True, workers=1, progress=False)
    assert Remote(out).names() == ["anomaly.tif"]


def test_evaluate_reads_the_scores_from_the_bucket_into_a_report_there(local, remote, deposits, bucket):
    from geogan.evaluation.stage import evaluate

    out = f"{bucket}/evaluation"
    got = evaluate(f"{remote.out_dir}/scores.zarr", deposits, out, name="pca", **EVAL)
    assert _without_sources(got.metrics) == _without_sources(local.metrics)
    assert {"index.html", "metrics.json", ".geogan"} <= set(Remote(out).names())
    by_cog = evaluate(remote.cog, deposits, None, **EVAL)
    assert by_cog.name == "pca" and by_cog.metrics["roc_auc"] == local.metrics["roc_auc"]
    with pytest.raises(OutputExistsError, match="report directory exists"):
        evaluate(remote.cog, deposits, out, **EVAL)


def test_an_interrupted_run_resumes_from_the_tiles_in_the_bucket(small_grid, pca_dir, local, bucket):
    """The steps of :func:`score_grid` with the workers' task run in this process (as in
    tests/scoring/test_run.py); the run dies after five tiles and a second one finishes it."""
    from geogan.errors import StoreError
    from geogan.options import ScoreOptions
    from geogan.scoring.inference import score_tile
    from geogan.scoring.run import ScoreRun

    def score_in_process(run, pending):
        for i, j in pending:
            score_tile(run.run_key["grid"], run.ds.attrs.get("created"), str(run.scores_path), run.spec.to_dict(),
                       i, j, model_dir=run.model_dir, model_token=run.token, element_index=run.element_index,
                       batch_size=run.batch_size, contributions=run.contributions, spread=False, min_elements=None)

    out, options = f"{bucket}/resumed", ScoreOptions(contributions=True)
    run = ScoreRun(small_grid.path, pca_dir, out, options, None)
    run.claim(overwrite=False)
    pending = run.stage()
    assert run.contrib_stage == f"{out}/contributions.zarr"  # built in place, beside scores.zarr
    score_in_process(run, pending[:5])  # then the run dies
    with pytest.raises(StoreError, match="incomplete"):  # what a reader sees meanwhile
        open_scores_store(run.scores_path)
    again = ScoreRun(small_grid.path, pca_dir, out, options, None)
    again.claim(overwrite=False)  # the unfinished stores are not outputs to refuse
    assert again.stage() == pending[5:]
    score_in_process(again, pending[5:])
    again.finish()
    assert not Remote(f"{out}/scores.zarr.partial").exists()
    np.testing.assert_array_equal(open_scores_store(again.scores_path)["anomaly"].values,
                                  open_scores_store(local.scores)["anomaly"].values)
    contrib = open_contributions_store(again.contrib_path)["contribution"].values
    assert np.isfinite(contrib).any() and contrib.shape == (5,) + small_grid.spec.shape


def test_maps_exported_to_the_bucket_are_the_local_ones_with_their_overviews(pca_dir, bucket, tmp_path, s3_server):
    """:func:`geogan.scoring.maps.export_maps` on a grid larger than a COG block (overviews),
    without a cluster: the bucket's objects are the local files, and a stale spread map goes."""
    from rio_cogeo.cogeo import cog_validate

    from geogan.gridspec import GridSpec
    from geogan.scoring.maps import MAP_FILES, cog_tags, export_maps
    from geogan.stores.layout import finalize_metadata, write_region
    from geogan.stores.scores import create_scores_store
    from geogan.training.model import load_model

    spec = GridSpec.from_bounds((500_000, 2_700_000, 500_000 + 640 * 100, 2_700_000 + 600 * 100), crs="EPSG:32650",
                                cell_size_m=100, tile=256)
    values = np.random.default_rng(0).gamma(2.0, size=spec.shape).astype(np.float32)
    values[:50, :70] = np.nan
    create_scores_store(tmp_path / "scores.zarr", spec, {})
    write_region(tmp_path / "scores.zarr", "anomaly", values, (slice(0, spec.height), slice(0, spec.width)))
    finalize_metadata(tmp_path / "scores.zarr", {"complete": True})
    ds, model = open_scores_store(tmp_path / "scores.zarr"), load_model(pca_dir)
    tags = cog_tags(model, str(pca_dir), "t", {"grid": "s3://elsewhere/grid.zarr"}, label="pca")
    out = f"{bucket}/maps"
    Remote(out).write_bytes("spread.tif", b"an earlier ensemble's map")  # stale: goes
    got = export_maps(ds, spec, model, out, tags)
    (tmp_path / "local").mkdir()
    want = export_maps(ds, spec, model, tmp_path / "local", tags)
    assert got.cog == f"{out}/anomaly.tif" and got.spread is None and got.class_breaks == want.class_breaks
    written = [n for n in MAP_FILES if (tmp_path / "local" / n).is_file()]
    assert Remote(out).names() == sorted(written) and "spread.tif" not in written
    for name in written:
        if not name.endswith(".gpkg"):  # (a GeoPackage records when it was written)
            assert Remote(out).read_bytes(name, limit=1 << 30) == (tmp_path / "local" / name).read_bytes(), name
    import rasterio

    loc = Remote(got.cog)
    with rasterio.open(loc.key, opener=loc.fs) as src:
        assert src.overviews(1) == [2] and src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.tags()["grid"] == "s3://elsewhere/grid.zarr"
    vsis3 = {"AWS_S3_ENDPOINT": s3_server.endpoint.removeprefix("http://"), "AWS_HTTPS": "NO",
             "AWS_VIRTUAL_HOSTING": "FALSE"}
    valid, errors, warnings = cog_validate(f"/vsis3/{loc.key}", config=vsis3, quiet=True)
    assert valid and not errors and not warnings
