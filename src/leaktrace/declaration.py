"""The app's own declaration (``app.yaml``): who the first party is and the double lists.

Attribution needs only the first-party domains; the collected/shared lists are
parsed and validated here so a bad declaration fails at load time, naming the
field, rather than half-way through an analysis.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class AppInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str | None = None


class CollectedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    purpose: str | None = None


class SharedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str  # SDK id or domain
    company: str | None = None
    types: list[str] = Field(default_factory=list)
    purpose: str | None = None


class AppDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: AppInfo
    first_party: list[str] = Field(default_factory=list)
    collects: list[CollectedItem] = Field(default_factory=list)
    shares: list[SharedItem] = Field(default_factory=list)
    consent: dict[str, str | float] | None = None


class DeclarationError(ValueError):
    """A declaration file that cannot be used; the message names file and field."""


def load_declaration(path: str | Path) -> AppDeclaration:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeclarationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise DeclarationError(f"{path}: expected a mapping at the top level")
    try:
        return AppDeclaration.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise DeclarationError(f"{path}: {loc}: {first['msg']}") from exc
