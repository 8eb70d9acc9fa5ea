"""Turn pydantic validation errors into ``path:line:col`` messages that point into the YAML."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from gpu_advisor.errors import FileError, did_you_mean
from gpu_advisor.knowledge.yamlio import Document, PathKey


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names accepted at the mapping that holds ``loc[-1]``, for did-you-mean on unknown keys."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        current = _model_in(annotation)
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``list[X]``, ``X | None`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validation_errors(doc: Document, model: type[BaseModel], exc: ValidationError,
                      prefix: PathKey = ()) -> Iterable[FileError]:
    """One FileError per pydantic error, located at the offending YAML node."""
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic puts union branch names ("str", "list[...]") in loc; they are not YAML keys
        clean: list[str | int] = []
        for part in loc:
            if isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"}):
                continue
            clean.append(part)
        key = prefix + tuple(clean)
        kind = err["type"]
        if kind == "extra_forbidden":
            name = str(clean[-1]) if clean else "?"
            hint = did_you_mean(name, _field_names(model, tuple(clean)))
            yield FileError(doc.key_location(key), f"unknown key {name!r}{hint}")
        elif kind == "missing":
            name = str(clean[-1]) if clean else "?"
            yield FileError(doc.location(key[:-1]), f"missing required key {name!r}")
        else:
            where = ".".join(str(p) for p in clean) or "document"
            yield FileError(doc.location(key), f"{where}: {err['msg']}")
