"""Tests for geogan.synth.writer: the survey, deposits and truth written to a folder, byte-identical
for a seed, and output safety."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from geogan.errors import ConfigError, OutputExistsError
from geogan.synth import make_survey, write_synthetic_survey, writer
from tests.helpers.synth import element_columns


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_files_are_byte_identical_for_a_seed(tmp_path, fmt):
    first = write_synthetic_survey(tmp_path / "a", "demo", n_samples=1_500, seed=7, fmt=fmt)
    write_synthetic_survey(tmp_path / "b", "demo", n_samples=1_500, seed=7, fmt=fmt)
    assert first.survey.name == f"survey.{fmt}"
    for name in (f"survey.{fmt}", "deposits.csv", "truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.crs == "EPSG:32650"
    assert "EPSG:32650" in first.describe()


def test_written_tables_match_the_in_memory_survey(tmp_path):
    expected = make_survey("demo", n_samples=1_500, seed=7)
    out = write_synthetic_survey(tmp_path / "csv", "demo", n_samples=1_500, seed=7)
    pq_out = write_synthetic_survey(tmp_path / "pq", "demo", n_samples=1_500, seed=7,
                                    fmt="parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(pq_out.survey), expected.table)
    from_csv = pd.read_csv(out.survey, dtype={c: "str" for c in element_columns(expected.table)
                                              if c != "Fe2O3_pct" and c != "K2O_pct"})
    pd.testing.assert_frame_equal(from_csv, expected.table, check_dtype=False)
    header = out.survey.read_text().splitlines()[0]
    assert header.startswith("sample_id,x,y,W_ppm,") and '"' not in header
    text = out.survey.read_text()
    assert ",<0.5," in text or ",<0.5\n" in text
    assert ",," in text  # empty cells are missing values
    deposits = pd.read_csv(out.deposits)
    pd.testing.assert_frame_equal(deposits, expected.deposits, check_dtype=False)
    assert json.loads(out.truth.read_text()) == expected.truth


def test_refuses_a_non_empty_output_unless_overwrite(tmp_path):
    out = tmp_path / "survey"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(OutputExistsError, match="overwrite") as info:
        write_synthetic_survey(out, n_samples=100)
    assert str(out) in str(info.value)
    assert (out / "keep.txt").read_text() == "precious"
    # issue 24: --overwrite replaces a synthetic survey, never a file the user keeps in its folder
    (out / "photos").mkdir()
    with pytest.raises(OutputExistsError, match="exists and geogan did not write it"):
        write_synthetic_survey(out, n_samples=100, overwrite=True)
    assert (out / "keep.txt").read_text() == "precious" and (out / "photos").is_dir()
    (out / "keep.txt").unlink()
    (out / "photos").rmdir()
    result = write_synthetic_survey(out, n_samples=100)  # an emptied folder is fine
    result = write_synthetic_survey(out, n_samples=100, overwrite=True)  # and geogan's own survey is replaced
    assert sorted(p.name for p in out.iterdir()) == [".geogan", "deposits.csv", "survey.csv", "truth.json"]
    (out / "keep.txt").write_text("precious")  # the user's file inside geogan's survey folder: kept
    with pytest.raises(OutputExistsError, match="holds keep.txt, which geogan did not write"):
        write_synthetic_survey(out, n_samples=100, overwrite=True)
    assert (out / "keep.txt").read_text() == "precious"
    assert result.n_samples == 100
    empty = tmp_path / "empty"
    empty.mkdir()
    write_synthetic_survey(empty, n_samples=100)  # an empty directory is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "survey"]


def test_overwriting_a_symlink_replaces_the_link_not_its_target(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    link = tmp_path / "survey"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_synthetic_survey(link, n_samples=100)
    # issue 24: a link is judged by what it points to: the user's folder is not replaced
    with pytest.raises(OutputExistsError, match="geogan did not write it"):
        write_synthetic_survey(link, n_samples=100, overwrite=True)
    (target / "keep.txt").unlink()  # an empty folder: the link is replaced, never what it points to
    write_synthetic_survey(link, n_samples=100, overwrite=True)
    assert not link.is_symlink() and (link / "truth.json").is_file()
    assert [p.name for p in target.iterdir()] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "survey"]


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic_survey(tmp_path / "out", n_samples=100)
    assert list(tmp_path.iterdir()) == []


def test_bad_format_is_refused_before_writing(tmp_path):
    with pytest.raises(ConfigError, match="unknown survey format 'xlsx'"):
        write_synthetic_survey(tmp_path / "out", n_samples=100, fmt="xlsx")
    assert not (tmp_path / "out").exists()
