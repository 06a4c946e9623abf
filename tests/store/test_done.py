"""The one record of finished work: written last, forgotten first, finished only while every output
it lists is the file it wrote and its fields are the ones asked for."""

from __future__ import annotations

import json
import os
from pathlib import Path

from amazon_cls.store.done import Done


def finished_work(folder: Path) -> tuple[Done, list[Path], dict]:
    folder.mkdir(parents=True, exist_ok=True)
    outputs = [folder / "a.csv", folder / "sub" / "b.png"]
    outputs[1].parent.mkdir(exist_ok=True)
    for index, path in enumerate(outputs):
        path.write_text(f"output {index}\n")
    fields = {"settings": {"tta": "d4", "stride": None}, "inputs": [{"path": "x", "size": 1, "mtime_ns": 2}]}
    done = Done(folder / "done.json")
    done.write(outputs, fields)
    return done, outputs, fields


def test_a_record_names_its_outputs_relative_to_its_folder(tmp_path: Path) -> None:
    done, outputs, fields = finished_work(tmp_path / "work")
    record = json.loads(done.path.read_text())
    assert set(record["outputs"]) == {"a.csv", "sub/b.png"}
    assert done.finished(outputs, fields) == record


def test_work_is_unfinished_when_an_output_changed_went_or_the_fields_differ(tmp_path: Path) -> None:
    done, outputs, fields = finished_work(tmp_path / "changed")
    outputs[0].write_text("another output, longer\n")
    assert done.finished(outputs, fields) is None
    done, outputs, fields = finished_work(tmp_path / "gone")
    outputs[1].unlink()
    assert done.finished([], fields) is None
    done, outputs, fields = finished_work(tmp_path / "settings")
    assert done.finished(outputs, {**fields, "settings": {"tta": "none", "stride": None}}) is None
    done, outputs, fields = finished_work(tmp_path / "rewritten")
    stat = outputs[0].stat()
    outputs[0].write_text("output 9\n")  # the same size: its modification time tells
    os.utime(outputs[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert done.finished(outputs, fields) is None


def test_forgotten_or_unreadable_records_are_unfinished(tmp_path: Path) -> None:
    done, outputs, fields = finished_work(tmp_path / "forgot")
    done.forget()
    assert not done.path.exists() and done.finished(outputs, fields) is None
    done, outputs, fields = finished_work(tmp_path / "cut")
    done.path.write_text(done.path.read_text()[:20])
    assert done.finished(outputs, fields) is None


def test_a_record_written_again_replaces_the_earlier_outputs(tmp_path: Path) -> None:
    done, outputs, fields = finished_work(tmp_path / "again")
    earlier = json.loads(done.path.read_text())
    record = done.write(outputs[:1], earlier)
    assert set(record["outputs"]) == {"a.csv"} and done.finished(outputs[:1], fields) is not None


def test_a_same_size_edit_with_its_time_put_back_is_found_by_content(tmp_path: Path) -> None:
    from amazon_cls.store.records import changed, identity

    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"A" * 4096)
    recorded = identity(scene)
    assert changed(recorded) is None
    stat = scene.stat()
    scene.write_bytes(b"B" * 4096)  # another scene of the same size ...
    os.utime(scene, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... with its modification time put back
    assert changed(recorded) == f"{scene} changed since (same size, other content)"


def test_a_finished_folder_copied_without_its_times_is_still_finished(tmp_path: Path) -> None:
    import shutil

    _, _, fields = finished_work(tmp_path / "made")
    copy = Path(shutil.copytree(tmp_path / "made", tmp_path / "copied", copy_function=shutil.copy))  # new times
    moved = [copy / "a.csv", copy / "sub" / "b.png"]
    assert Done(copy / "done.json").finished(moved, fields) is not None
    (copy / "a.csv").write_text("output X\n")  # the same size, other bytes
    assert Done(copy / "done.json").finished(moved, fields) is None
