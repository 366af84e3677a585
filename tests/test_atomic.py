import os
import stat

import pytest

from thresher.atomic import current_umask, staged_file


def test_a_staged_file_lands_whole_with_ordinary_permissions(tmp_path):
    target = tmp_path / "report.html"
    with staged_file(target) as staging:
        staging.write_text("<html></html>")
        assert not target.exists()
    assert target.read_text() == "<html></html>"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~current_umask()
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]


def test_a_failed_write_leaves_neither_the_file_nor_the_temporary(tmp_path):
    target = tmp_path / "corpus.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), staged_file(target) as staging:
        staging.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["corpus.jsonl"]
