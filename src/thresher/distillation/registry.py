"""Name → student class (`thresher distill --student NAME`). Adding a student is one class and one line here."""

from __future__ import annotations

from thresher.components import Registry
from thresher.distillation.students import Student

_BUILTIN: dict[str, str] = {
    "fasttext": "thresher.distillation.students:FastTextStudent",
    "head": "thresher.distillation.students:HeadStudent",
}

STUDENTS: Registry[Student] = Registry("student", _BUILTIN)
