"""Output paths are refused before any work starts, as one line naming the option and path."""
import errno
import os

import pytest

from dexpie_common import output_paths
from dexpie_common.output_paths import OutputPathError, check_output_file, check_output_folder


def test_a_missing_output_folder_is_created_and_left_empty(tmp_path):
    out = check_output_folder(tmp_path / "runs" / "bc")
    assert out.is_dir() and list(out.iterdir()) == []  # the probe is gone


def test_an_existing_file_is_not_an_output_folder(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputPathError, match=r"^--out '.*taken': exists and is not a folder$"):
        check_output_folder(tmp_path / "taken")
    with pytest.raises(OutputPathError, match=r"^--out '.*taken/bc': cannot create the folder \(.+\)$"):
        check_output_folder(tmp_path / "taken" / "bc")


def test_a_full_disk_is_found_before_the_work(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(output_paths.os, "fsync", full)
    with pytest.raises(OutputPathError, match=r"cannot write there \(No space left on device\)"):
        check_output_folder(tmp_path / "out")
    with pytest.raises(OutputPathError, match=r"^--json '.*r.json': cannot write there"):
        check_output_file(tmp_path / "r.json", "--json")


def test_an_output_file_gets_its_folder_and_keeps_an_earlier_report(tmp_path):
    report = tmp_path / "new" / "folder" / "report.json"
    assert check_output_file(report, "--json") == report
    assert report.parent.is_dir() and not report.exists()
    report.write_text("earlier")
    check_output_file(report, "--json")
    assert report.read_text() == "earlier"


def test_an_output_file_refuses_a_folder_or_a_file_as_its_folder(tmp_path):
    with pytest.raises(OutputPathError, match="is a folder, not a file"):
        check_output_file(tmp_path, "--json")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputPathError, match="is not a folder"):
        check_output_file(tmp_path / "plain" / "r.json", "--json")
    with pytest.raises(OutputPathError, match=r"cannot create its folder \(.+\)"):
        check_output_file(tmp_path / "plain" / "sub" / "r.json", "--json")
