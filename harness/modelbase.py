"""The base of every input model (frozen, `extra="forbid"`: validated once at the edge, never mutated),
the field types they share, and how a cross-field check names the field at fault so that the scenario
loader can point at its line."""

from __future__ import annotations

import warnings
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class FieldRenamed(UserWarning):
    """An input used a field's old name; it still works for one release (the scenario loader adds the
    file and line when it passes the warning on)."""

    def __init__(self, old: str, new: str, why: str):
        super().__init__(f"{old} is deprecated, write {new} ({why}); the old name goes in the next release")
        self.old, self.new = old, new


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    # old field name -> (new name, why): accepted for one release, with a FieldRenamed warning
    renamed: ClassVar[dict[str, tuple[str, str]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        if not cls.renamed or not isinstance(data, dict):
            return data
        data = dict(data)
        for old, (new, why) in cls.renamed.items():
            if old in data:
                if new in data:
                    raise at_field(old, f"give {new} only ({old} is its deprecated name)")
                data[new] = data.pop(old)
                warnings.warn(FieldRenamed(old, new, why), stacklevel=2)
        return data


def at_field(path: str, message: str) -> ValueError:
    """A cross-field error that names the field at fault (relative to the model), so the loader can
    point at the right line instead of at the start of the enclosing mapping."""
    return ValueError(f"[{path}] {message}")
