"""Who and where: organisations, locations, clinicians and patients."""

from collections.abc import Mapping

from patients.ingest import values as v
from patients.ingest.mappers.base import Context, Mapper, Row
from patients.ingest.values import Invalid
from patients.models import Clinician, Location, Organization, Patient, Sex

PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
_KINDS = {
    "wa": Location.Kind.WARD,
    "ro": Location.Kind.ROOM,
    "bd": Location.Kind.BED,
    "si": Location.Kind.SITE,
    "bu": Location.Kind.SITE,
}
# v3 RoleCode service delivery locations that are outpatient clinics.
CLINIC_ROLE_CODES = {
    "OF",
    "FMC",
    "GIM",
    "PEDC",
    "CARD",
    "COAG",
    "ENDO",
    "DERM",
    "ENT",
    "GI",
    "HEM",
    "INFD",
    "ONCL",
    "OPH",
    "ORTHO",
    "RHEUM",
    "SLEEP",
    "PAINCL",
    "PROFF",
}


def identifier(identifiers, path: str) -> tuple[str, str]:
    """(system, value) of the first identifier that has a value."""
    for entry in v.items(identifiers, path):
        if isinstance(entry, dict) and entry.get("value"):
            return (
                v.identifier(entry.get("system"), f"{path}.system", limit=255),
                v.identifier(entry["value"], f"{path}.value", limit=128),
            )
    return "", ""


class OrganizationMapper(Mapper):
    resource_type = "Organization"
    model = Organization
    patient_field = None
    links = ()

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        system, value = identifier(
            resource.get("identifier"), "Organization.identifier"
        )
        return Row(
            {
                "name": v.text(resource.get("name"), "Organization.name"),
                "identifier_system": system,
                "identifier_value": value,
                "phone": v.phone(resource.get("telecom"), "Organization.telecom"),
            }
        )


def location_kind(resource: dict) -> str:
    physical = resource.get("physicalType")
    kind = _KINDS.get(v.concept_code(physical, "Location.physicalType", PHYSICAL_TYPE))
    if kind:
        return kind
    for concept in v.items(resource.get("type"), "Location.type"):
        if v.has_coding(concept, ROLE_CODE, CLINIC_ROLE_CODES):
            return Location.Kind.CLINIC
    return Location.Kind.OTHER


class LocationMapper(Mapper):
    resource_type = "Location"
    model = Location
    patient_field = None
    links = ("part_of",)

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        system, value = identifier(resource.get("identifier"), "Location.identifier")
        # Name is optional in R4: fall back on an alias, the identifier, the id.
        name = (
            v.text(resource.get("name"), "Location.name")
            or v.text(
                v.first(resource.get("alias"), "Location.alias"),
                "Location.alias",
            )
            or value
            or f"Location/{resource.get('id')}"
        )
        row = Row(
            {
                "kind": location_kind(resource),
                "name": name,
                "code": value if len(value) <= 64 else "",
                "identifier_system": system,
                "identifier_value": value,
                "status": v.code(resource.get("status"), "Location.status"),
                "phone": v.phone(resource.get("telecom"), "Location.telecom"),
            }
        )
        # A room or bed without its ward would hide its patients from the
        # ward's census: its parent is required.
        row.want(
            "part_of",
            resource.get("partOf"),
            "Location.partOf",
            ("Location",),
            urns,
            required=row.fields["kind"] in {Location.Kind.ROOM, Location.Kind.BED},
        )
        return row

    def finish(self, rows: list[Row], context: Context) -> None:
        parents = {row.fields["part_of_id"] for row in rows} - {None}
        facts = context.location_facts(parents)
        for row in rows:
            parent = row.fields["part_of_id"]
            kind, ward, _ = facts.get(parent, ("", None, None))
            row.fields["ward_id"] = parent if kind == Location.Kind.WARD else ward


class PractitionerMapper(Mapper):
    resource_type = "Practitioner"
    model = Clinician
    patient_field = None
    links = ()

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        family, given, prefix = v.human_name(resource.get("name"), "Practitioner.name")
        system, value = identifier(
            resource.get("identifier"), "Practitioner.identifier"
        )
        return Row(
            {
                "family": family,
                "given": given,
                "prefix": prefix,
                "identifier_system": system,
                "identifier_value": value,
                "phone": v.phone(resource.get("telecom"), "Practitioner.telecom"),
            }
        )


class PatientMapper(Mapper):
    resource_type = "Patient"
    model = Patient
    patient_field = None
    links = ()

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        identifiers = self._identifiers(resource.get("identifier"))
        mrn = next((i for i in identifiers if i["type"] == "MR"), None)
        if mrn is None:
            raise Invalid(
                "Patient.identifier has no medical record number (type MR); "
                "a downtime copy without an MRN is not safe to use"
            )
        family, given, prefix = v.human_name(resource.get("name"), "Patient.name")
        if not family and not given:
            raise Invalid("Patient.name has neither a family nor a given name")
        gender = v.code(resource.get("gender"), "Patient.gender", set(Sex.values))
        deceased = resource.get("deceasedDateTime")
        return Row(
            {
                "mrn_system": v.identifier(
                    mrn["system"], "Patient.identifier.system", limit=255
                ),
                "mrn": v.identifier(mrn["value"], "Patient.identifier.value", limit=64),
                "identifiers": identifiers,
                "family": family,
                "given": given,
                "prefix": prefix,
                "name_search": v.search_key(given, family),
                "birth_date": v.date(resource.get("birthDate"), "Patient.birthDate"),
                "sex": gender or Sex.UNKNOWN,
                "phone": v.phone(resource.get("telecom"), "Patient.telecom"),
                "address": v.address(resource.get("address"), "Patient.address"),
                **self._contact(resource.get("contact")),
                "deceased_at": v.datetime(deceased, "Patient.deceasedDateTime"),
            }
        )

    def _identifiers(self, identifiers) -> list[dict]:
        found = []
        for entry in v.items(identifiers, "Patient.identifier"):
            if not isinstance(entry, dict) or not entry.get("value"):
                continue
            found.append(
                {
                    "type": v.concept_code(
                        entry.get("type"), "Patient.identifier.type", IDENTIFIER_TYPE
                    ),
                    "system": v.text(entry.get("system"), "Patient.identifier.system"),
                    "value": v.text(entry["value"], "Patient.identifier.value"),
                }
            )
        return found

    def _contact(self, contacts) -> dict:
        for contact in v.items(contacts, "Patient.contact"):
            if not isinstance(contact, dict):
                raise Invalid("Patient.contact is not a list of contacts")
            family, given, _ = v.human_name(
                [contact["name"]] if contact.get("name") else [], "Patient.contact.name"
            )
            relationship = v.first(contact.get("relationship"), "Patient.contact")
            return {
                "contact_name": f"{given} {family}".strip(),
                "contact_relationship": v.concept_text(
                    relationship, "Patient.contact.relationship"
                ),
                "contact_phone": v.phone(
                    contact.get("telecom"), "Patient.contact.telecom"
                ),
            }
        return {"contact_name": "", "contact_relationship": "", "contact_phone": ""}
