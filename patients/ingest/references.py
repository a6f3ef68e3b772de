"""FHIR references, as a key the importer can look up in the mirror."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from patients.ingest.values import Invalid


@dataclass(frozen=True)
class Ref:
    """A target by logical id, or by identifier (conditional reference)."""

    type: str
    id: str = ""
    system: str = ""
    value: str = ""

    def describe(self) -> str:
        # Identifier values may be MRNs: never put them in a message.
        return f"{self.type}/{self.id}" if self.id else f"{self.type} (by identifier)"


def parse_reference(
    value: Any, path: str, types: tuple[str, ...], urns: Mapping[str, str]
) -> Ref:
    """Read a Reference: urn:uuid: (through the bundle), relative, absolute
    or conditional (``Location?identifier=system|value``), or a logical
    reference that carries only an identifier."""
    if not isinstance(value, dict):
        raise Invalid(f"{path} is not a Reference")
    text = value.get("reference")
    if text is None:
        return _by_identifier(value.get("identifier"), value.get("type"), path, types)
    if not isinstance(text, str) or not text:
        raise Invalid(f"{path}.reference is empty")
    if text.startswith("urn:"):
        target = urns.get(text)
        if target is None:
            # Transaction producers (Synthea among them) use the resource id
            # as the uuid, and may point into another bundle of the same load.
            if not text.startswith("urn:uuid:") or len(types) != 1:
                raise Invalid(f"{path} points to {text}, which is not in the bundle")
            return Ref(types[0], id=text.removeprefix("urn:uuid:"))
        text = target
    if text.startswith("#"):
        raise Invalid(f"{path} points to a contained resource, which is not supported")
    if "?" in text:
        kind, query = text.split("?", 1)
        identifiers = parse_qs(query).get("identifier")
        if not identifiers:
            raise Invalid(
                f"{path}: only conditional references by identifier are supported"
            )
        system, _, found = identifiers[0].rpartition("|")
        ref = Ref(kind, system=system, value=found)
    else:
        parts = text.rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) < 2 or not parts[-1]:
            raise Invalid(f"{path}.reference is not Type/id")
        ref = Ref(parts[-2], id=parts[-1])
    if ref.type not in types:
        raise Invalid(f"{path} must point to {' or '.join(types)}, not {ref.type}")
    return ref


def _by_identifier(identifier: Any, kind: Any, path: str, types: tuple) -> Ref:
    if not isinstance(identifier, dict) or not identifier.get("value"):
        raise Invalid(f"{path} has neither a reference nor an identifier")
    kind = kind or (types[0] if len(types) == 1 else None)
    if kind not in types:
        raise Invalid(f"{path}.type must be one of {', '.join(types)}")
    return Ref(
        kind, system=str(identifier.get("system") or ""), value=str(identifier["value"])
    )
