"""A command's outputs are a set: each file goes to its temporary, and none replaces the previous
set until all are complete; what a failure leaves is said file by file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from amazon_cls.store.atomic import OutputError, output_set, write_text
from amazon_cls.store.done import Done
from tests.helpers import fill, needs_tmpfs, small_disk, snapshot


def previous_set(folder: Path) -> Done:
    done = Done(folder / "done.json")
    with done.rewriting():
        written = [write_text(folder / name, f"old {name}") for name in ("a.csv", "b.csv", "c.png")]
    done.write(written, {"settings": "old"})
    return done


def test_a_failure_inside_the_set_keeps_every_previous_file_and_the_record(tmp_path: Path) -> None:
    done = previous_set(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError), done.rewriting():
        write_text(tmp_path / "a.csv", "new a")
        write_text(tmp_path / "b.csv", "new b")
        raise RuntimeError("the model failed half way")
    assert snapshot(tmp_path) == before and done.finished([], {"settings": "old"})


def test_a_complete_set_replaces_the_old_one_and_removes_what_it_lacks(tmp_path: Path) -> None:
    done = previous_set(tmp_path)
    with done.rewriting():
        written = [write_text(tmp_path / "a.csv", "new a"), write_text(tmp_path / "b.csv", "new b")]
        assert (tmp_path / "a.csv").read_text() == "old a.csv"  # nothing replaced before the set ends
    done.write(written, {"settings": "new"})
    assert sorted(snapshot(tmp_path)) == ["a.csv", "b.csv", "done.json"]  # the old c.png is not this run's
    assert (tmp_path / "a.csv").read_text() == "new a" and done.finished(written, {"settings": "new"})


def test_a_set_inside_a_set_is_part_of_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), output_set():
        with output_set():  # as ensemble writes its submission
            write_text(tmp_path / "submission.csv", "new")
        assert not (tmp_path / "submission.csv").exists()  # the outer set decides
        raise RuntimeError("a later file of the outer set failed")
    assert not (tmp_path / "submission.csv").exists() and not list(tmp_path.iterdir())


def test_a_folder_where_a_file_goes_is_refused_before_any_file_changes(tmp_path: Path) -> None:
    done = previous_set(tmp_path)
    (tmp_path / "d.csv").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(OutputError) as raised, done.rewriting():
        write_text(tmp_path / "a.csv", "new a")
        write_text(tmp_path / "d.csv", "new d")
    assert (
        str(raised.value)
        == f"{tmp_path / 'd.csv'}: cannot write (a folder is in the way); no earlier output was changed"
    )
    assert snapshot(tmp_path) == before and done.read() is not None
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_rename_that_fails_midway_says_which_files_are_new_and_which_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = previous_set(tmp_path)
    real = os.replace

    def fails_on_b(source, target):
        if Path(target).name == "b.csv":
            raise OSError(errno.EACCES, "Permission denied")
        real(source, target)

    monkeypatch.setattr(os, "replace", fails_on_b)
    with pytest.raises(OutputError) as raised, done.rewriting():
        for name in ("a.csv", "b.csv", "c.png"):
            write_text(tmp_path / name, f"new {name}")
    message = str(raised.value)
    assert message == (
        f"{tmp_path / 'b.csv'}: cannot write (Permission denied); new: {tmp_path / 'a.csv'}; "
        f"still the previous run's: {tmp_path / 'b.csv'}, {tmp_path / 'c.png'}"
    )
    assert done.read() is None  # a mixed set is never taken for finished
    assert [(tmp_path / n).read_text() for n in ("a.csv", "b.csv", "c.png")] == ["new a.csv", "old b.csv", "old c.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@needs_tmpfs
@pytest.mark.parametrize("leave", [0, 6000])
def test_a_full_disk_keeps_the_previous_set_on_a_real_filesystem(tmp_path: Path, leave: int) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        done = previous_set(disk)
        before = snapshot(disk)
        fill(disk, leave)
        message = r"No space left on device\); no earlier output was changed"
        with pytest.raises(OutputError, match=message), done.rewriting():
            for name in ("a.csv", "b.csv", "c.png"):
                write_text(disk / name, name * 1000)  # 5-7 kB each: with 6 kB free, the first fits
        assert snapshot(disk) == before and done.finished([], {"settings": "old"})
        assert not [p for p in disk.iterdir() if p.name.endswith(".tmp")]


def test_a_folder_made_where_a_staged_file_goes_is_refused_before_any_rename(tmp_path: Path) -> None:
    done = previous_set(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="no file of the set changed"), done.rewriting():
        write_text(tmp_path / "a.csv", "new a")
        write_text(tmp_path / "d.csv", "new d")
        (tmp_path / "d.csv").mkdir()  # by someone else, while the set was being written
    assert snapshot(tmp_path) == before and done.read() is not None
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
