"""What every resource mapper shares: the references it wants resolved."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import models

from patients.ingest.references import Ref, parse_reference
from patients.ingest.values import Invalid


@dataclass
class Wanted:
    """A reference a row needs: ``field`` gets the target's primary key."""

    field: str
    ref: Ref
    path: str
    required: bool


@dataclass
class Row:
    """A resource mapped to model fields, waiting for its references."""

    fields: dict[str, Any]
    wanted: list[Wanted] = field(default_factory=list)
    # Resolved primary keys of references that map to more than one column
    # (an encounter's locations); a mapper's ``finish`` turns them into fields.
    extra: dict[str, list[int]] = field(default_factory=dict)
    # Why the row cannot be written, found once its references are resolved
    # (a mapper's ``finish``): the resource is quarantined with it.
    problem: str = ""

    def want(
        self,
        name: str,
        value: Any,
        path: str,
        types: tuple[str, ...],
        urns: Mapping[str, str],
        *,
        required: bool = False,
    ) -> None:
        if value is None:
            if required:
                raise Invalid(f"{path} is missing")
            return
        ref = parse_reference(value, path, types, urns)
        self.wanted.append(Wanted(name, ref, path, required))


class Mapper:
    """Turns one resource type into rows of one model."""

    resource_type: ClassVar[str]
    model: ClassVar[type[models.Model]]
    # The field that says whose record a row belongs to (None: nobody's).
    patient_field: ClassVar[str | None] = "patient"
    # Foreign keys filled from references; each is None until resolved.
    links: ClassVar[tuple[str, ...]] = ("patient",)

    def accepts(self, resource: dict) -> bool:
        return True

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        raise NotImplementedError

    def finish(self, rows: list[Row], context: "Context") -> None:
        """Fill fields that depend on resolved references (default: none)."""


class Context:
    """What a mapper may ask the importer after references are resolved."""

    def location_facts(self, pks: set[int]) -> dict[int, tuple]:
        """(kind, ward pk, parent pk) of each location."""
        raise NotImplementedError

    def schedule_clinics(
        self, pks: set[int]
    ) -> dict[int, tuple[int | None, int | None]]:
        """(clinic pk, clinician pk) of each slot."""
        raise NotImplementedError
