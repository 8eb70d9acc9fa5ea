"""How every YAML file is validated: one strict pydantic base, errors located at ``path:line:col``.

Every file schema (knowledge base, rules, model catalog, claims, energy, pathways, hardware
checks) derives from :class:`StrictModel`, so all files follow the same rules: an unknown key is
an error (with a did-you-mean), values are taken as written (``"12"`` is not a number), and the
parsed models are frozen. Pydantic's errors become ``FileError``s that point at the offending
YAML node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from gpu_advisor.errors import FileError, did_you_mean
from gpu_advisor.knowledge.yamlio import Document, PathKey


class StrictModel(BaseModel):
    """The base of every file schema: no unknown keys, no coercion, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def file_check(message: str) -> PydanticCustomError:
    """An error a validator raises when a check of its own fails: the message is shown as is."""
    return PydanticCustomError("file_check", message)


Model = TypeVar("Model", bound=BaseModel)


def validate_part(
    doc: Document, model: type[Model], data: Any, errors: list[FileError], prefix: PathKey = ()
) -> Model | None:
    """``data`` (the part of ``doc`` at ``prefix``) as a ``model``; None after adding its errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors.extend(validation_errors(doc, model, exc, prefix))
        return None


def validate_document(doc: Document, model: type[Model], errors: list[FileError]) -> Model | None:
    """The whole file as a ``model`` (its top must be a mapping); None after adding its errors."""
    if not isinstance(doc.data, dict):
        errors.append(
            FileError(
                doc.location(), f"expected a mapping at the top of the file ({model.__name__})"
            )
        )
        return None
    return validate_part(doc, model, doc.data, errors)


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
    """The pydantic model inside an annotation such as ``list[X]``, ``X | None`` or ``dict[str,
    X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validation_errors(
    doc: Document, model: type[BaseModel], exc: ValidationError, prefix: PathKey = ()
) -> Iterable[FileError]:
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
        elif kind == "file_check":  # our own checks word their message in full
            yield FileError(doc.location(key), err["msg"])
        else:
            where = ".".join(str(p) for p in clean) or "document"
            yield FileError(doc.location(key), f"{where}: {err['msg']}")
