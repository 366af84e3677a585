"""A student's model directory: the trained model and `student.json`, its provenance and held-out metrics.

Layout::

    MODEL_DIR/
      student.json   # format, student and its parameters (fastText settings), text normalisation, teacher
                     # (score column, direction, positives' end, score directory and its manifest's blake2b; or the
                     # positive and negative files), input fingerprint(s), data sizes, held-out metrics, versions,
                     # and `settings.distill`, so `thresher distill --config MODEL_DIR/student.json` repeats the run
      model.bin      # student fasttext: the fastText model
      head.npz       # student head: coef (d,) and intercept of the logistic regression

The directory is written under a temporary name and renamed when complete (`thresher.atomic.staged_dir`), so a
failed or interrupted `thresher distill` leaves no half-written model directory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thresher.atomic import staged_dir
from thresher.distillation.students import FastTextModel, HeadModel
from thresher.errors import ModelError

STUDENT_FILE = "student.json"
STUDENT_FORMAT = "thresher-student"
STUDENT_FORMAT_VERSION = 1
_HASH_CHUNK_BYTES = 1 << 20


def file_digest(path: Path) -> str:
    """blake2b (16 bytes, hex) of a file's bytes."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_student_dir(
    out: str | Path, model: FastTextModel | HeadModel, record: dict[str, Any], *, overwrite: bool = False
) -> dict[str, Any]:
    """Write `model` and `record` (plus its files' sizes and digests) to `out`, all at once; the record written."""
    out = Path(out)
    with staged_dir(out, overwrite=overwrite) as staging:
        names = model.save(staging)
        files = {
            name: {"bytes": (staging / name).stat().st_size, "blake2b": file_digest(staging / name)} for name in names
        }
        record = {"format": STUDENT_FORMAT, "version": STUDENT_FORMAT_VERSION, **record, "files": files}
        (staging / STUDENT_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return record


@dataclass(frozen=True)
class LoadedStudent:
    """A model directory read back: its record and the model, ready to predict."""

    path: Path
    record: dict[str, Any]
    model: FastTextModel | HeadModel

    @property
    def student(self) -> str:
        return str(self.record["student"])

    def fingerprint(self) -> str:
        """One digest of the record and the model files: what a score made with this student depends on."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(file_digest(self.path / STUDENT_FILE).encode())
        for name, entry in sorted(self.record.get("files", {}).items()):
            digest.update(f"{name}\0{entry.get('blake2b')}".encode())
        return digest.hexdigest()


def read_student_record(path: str | Path) -> dict[str, Any]:
    """The `student.json` of a model directory; `ModelError` when `path` is not one."""
    path = Path(path)
    record_path = path / STUDENT_FILE
    if not record_path.is_file():
        raise ModelError(
            f"{path}: not a student model directory (no {STUDENT_FILE}); make one with `thresher distill`"
        )
    try:
        record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{record_path}: unreadable ({error})") from None
    if record.get("format") != STUDENT_FORMAT:
        raise ModelError(f"{record_path}: not a thresher student record")
    if record.get("version") != STUDENT_FORMAT_VERSION:
        raise ModelError(
            f"{record_path}: student format version {record.get('version')}, this thresher reads "
            f"{STUDENT_FORMAT_VERSION}; distil it again"
        )
    return record


def load_student(path: str | Path) -> LoadedStudent:
    """The student saved in the model directory `path`; `ModelError` when it is not one or a file is missing."""
    path = Path(path)
    record = read_student_record(path)
    for name in record.get("files", {}):
        if not (path / name).is_file():
            raise ModelError(f"{path}: {name} is missing; the model directory is incomplete")
    student = record.get("student")
    model: FastTextModel | HeadModel
    if student == "fasttext":
        model = FastTextModel.load(path, record.get("params", {}))
    elif student == "head":
        model = HeadModel.load(path, record.get("embedder", {}))
    else:
        raise ModelError(f"{path / STUDENT_FILE}: unknown student {student!r}")
    return LoadedStudent(path, record, model)
