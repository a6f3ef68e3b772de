"""A patient's record: encounters, allergies, problems, medication orders,
observations, lab orders and flags (code status, isolation, diet)."""

from collections.abc import Mapping
from typing import ClassVar

from patients.ingest import rules
from patients.ingest import values as v
from patients.ingest.mappers.base import Context, Mapper, Row
from patients.ingest.references import parse_reference
from patients.ingest.values import Invalid
from patients.models import (
    Allergy,
    Encounter,
    Flag,
    LabOrder,
    Location,
    MedicationAdministration,
    MedicationOrder,
    Observation,
    Problem,
)

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
# SNOMED CT 304251008 |Resuscitation status|: an Observation with this code
# is the patient's code status.
RESUSCITATION_STATUS = {"304251008"}
# SNOMED CT 40174006 |Isolation procedure|: a Flag with it is an isolation.
ISOLATION = {"40174006"}
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LAB_CATEGORY = {"108252007"}  # SNOMED CT |Laboratory procedure|


def subject(row: Row, resource: dict, path: str, urns: Mapping[str, str]) -> None:
    row.want(
        "patient",
        resource.get(path.split(".")[1]),
        path,
        ("Patient",),
        urns,
        required=True,
    )


class EncounterMapper(Mapper):
    resource_type = "Encounter"
    model = Encounter
    links = ("patient", "attending")

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        status = v.code(
            resource.get("status"),
            "Encounter.status",
            set(Encounter.Status.values),
            required=True,
        )
        period = resource.get("period") or {}
        hospitalization = resource.get("hospitalization") or {}
        diets = v.items(hospitalization.get("dietPreference"), "Encounter.diet")
        row = Row(
            {
                "status": status,
                "encounter_class": str((resource.get("class") or {}).get("code") or "")[
                    :16
                ],
                "encounter_type": v.concept_text(
                    v.first(resource.get("type"), "Encounter.type"), "Encounter.type"
                ),
                "admitted_at": v.datetime(
                    period.get("start"), "Encounter.period.start"
                ),
                "discharged_at": v.datetime(period.get("end"), "Encounter.period.end"),
                "reason": v.concept_text(
                    v.first(resource.get("reasonCode"), "Encounter.reasonCode"),
                    "Encounter.reasonCode",
                ),
                "diet": "; ".join(
                    v.concept_text(d, "Encounter.hospitalization.dietPreference")
                    for d in diets
                ),
            }
        )
        subject(row, resource, "Encounter.subject", urns)
        attending = self._attending(resource.get("participant"))
        row.want(
            "attending",
            attending,
            "Encounter.participant.individual",
            ("Practitioner",),
            urns,
        )
        on_census = status in Encounter.ON_CENSUS
        places = self._current_locations(resource.get("location"), on_census)
        for place in places:
            # Without its ward a current patient would vanish from the census.
            row.want(
                "*locations",
                place,
                "Encounter.location.location",
                ("Location",),
                urns,
                required=on_census,
            )
        return row

    def _attending(self, participants) -> dict | None:
        ranked = []
        for participant in v.items(participants, "Encounter.participant"):
            if isinstance(participant, dict) and participant.get("individual"):
                types = {
                    coding.get("code")
                    for concept in participant.get("type") or []
                    for coding in concept.get("coding") or []
                }
                rank = 0 if "ATND" in types else 1 if "PPRF" in types else 2
                ranked.append((rank, len(ranked), participant["individual"]))
        return min(ranked)[2] if ranked else None

    def _current_locations(self, locations, on_census: bool) -> list[dict]:
        entries = [
            entry
            for entry in v.items(locations, "Encounter.location")
            if isinstance(entry, dict) and entry.get("location")
        ]
        if on_census:
            entries = [e for e in entries if e.get("status") in (None, "active")]
        return [entry["location"] for entry in entries]

    def finish(self, rows: list[Row], context: Context) -> None:
        """Ward, room and bed from the locations given, and their parents."""
        places = {pk for row in rows for pk in row.extra.get("*locations", [])}
        facts = context.location_facts(places)
        facts |= context.location_facts({fact[2] for fact in facts.values()} - {None})
        for row in rows:
            found = {"ward": None, "room": None, "bed": None}
            for pk in row.extra.get("*locations", []):
                kind, ward, parent = facts.get(pk, ("", None, None))
                if kind in found:
                    found[kind] = pk
                found["ward"] = found["ward"] or ward
                if kind == Location.Kind.BED and facts.get(parent, ("",))[0] == "room":
                    found["room"] = found["room"] or parent
            for kind, pk in found.items():
                row.fields[f"{kind}_id"] = pk
            if found["ward"] is None and rules.needs_ward(
                row.fields["status"], row.fields["encounter_class"]
            ):
                row.problem = (
                    "Encounter.location: an inpatient stay on the census is on no "
                    "ward (no location, or none that is a ward, Location."
                    "physicalType wa, or part of one); it would be on no census"
                )


class AllergyMapper(Mapper):
    resource_type = "AllergyIntolerance"
    model = Allergy
    _SEVERITY: ClassVar[dict[str, int]] = {"mild": 1, "moderate": 2, "severe": 3}

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        substance = v.concept_text(resource.get("code"), "AllergyIntolerance.code")
        if not substance:
            raise Invalid(
                "AllergyIntolerance.code is missing: the substance is unknown"
            )
        reactions, severities = [], []
        for reaction in v.items(
            resource.get("reaction"), "AllergyIntolerance.reaction"
        ):
            for manifestation in v.items(
                reaction.get("manifestation"),
                "AllergyIntolerance.reaction.manifestation",
            ):
                reactions.append(
                    v.concept_text(
                        manifestation, "AllergyIntolerance.reaction.manifestation"
                    )
                )
            severities.append(
                v.code(
                    reaction.get("severity"),
                    "AllergyIntolerance.reaction.severity",
                    set(self._SEVERITY),
                )
            )
        worst = max((s for s in severities if s), key=self._SEVERITY.get, default="")
        row = Row(
            {
                "substance": substance,
                "substance_code": v.concept_code(resource.get("code"), "code"),
                "category": ", ".join(v.items(resource.get("category"), "category"))[
                    :64
                ],
                "reactions": v.joined(reactions),
                "severity": worst,
                "criticality": v.code(
                    resource.get("criticality"),
                    "AllergyIntolerance.criticality",
                    set(Allergy.Criticality.values),
                ),
                # No status means nobody said it is over: treat it as active.
                "clinical_status": v.concept_code(
                    resource.get("clinicalStatus"), "AllergyIntolerance.clinicalStatus"
                )
                or "active",
                "verification_status": v.concept_code(
                    resource.get("verificationStatus"),
                    "AllergyIntolerance.verificationStatus",
                )[:16],
                "recorded_at": v.datetime(
                    resource.get("recordedDate"), "AllergyIntolerance.recordedDate"
                ),
            }
        )
        subject(row, resource, "AllergyIntolerance.patient", urns)
        return row


class ConditionMapper(Mapper):
    resource_type = "Condition"
    model = Problem

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        description = v.concept_text(resource.get("code"), "Condition.code")
        if not description:
            raise Invalid("Condition.code is missing")
        row = Row(
            {
                "description": description,
                "code": v.concept_code(resource.get("code"), "Condition.code"),
                "clinical_status": v.concept_code(
                    resource.get("clinicalStatus"), "Condition.clinicalStatus"
                )[:16]
                or "active",
                "onset_at": v.datetime(
                    resource.get("onsetDateTime"), "Condition.onsetDateTime"
                ),
                "abated_at": v.datetime(
                    resource.get("abatementDateTime"), "Condition.abatementDateTime"
                ),
                "recorded_at": v.datetime(
                    resource.get("recordedDate"), "Condition.recordedDate"
                ),
            }
        )
        subject(row, resource, "Condition.subject", urns)
        return row


class MedicationRequestMapper(Mapper):
    resource_type = "MedicationRequest"
    model = MedicationOrder
    links = ("patient", "encounter", "prescriber")

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        path = "MedicationRequest"
        drug = v.concept_text(
            resource.get("medicationCodeableConcept"),
            f"{path}.medicationCodeableConcept",
        )
        if not drug:
            drug = v.text(
                (resource.get("medicationReference") or {}).get("display"),
                f"{path}.medicationReference.display",
            )
        if not drug:
            raise Invalid(f"{path}.medication is missing: the drug is unknown")
        status = v.code(
            resource.get("status"),
            f"{path}.status",
            set(MedicationOrder.Status.values),
            required=True,
        )
        dosage = v.first(resource.get("dosageInstruction"), f"{path}.dosageInstruction")
        validity = (resource.get("dispenseRequest") or {}).get("validityPeriod") or {}
        row = Row(
            {
                "drug": drug,
                "drug_code": v.concept_code(
                    resource.get("medicationCodeableConcept"), f"{path}.medication"
                ),
                **dosage_fields(dosage or {}, f"{path}.dosageInstruction"),
                "status": status,
                "starts_at": v.datetime(
                    validity.get("start") or resource.get("authoredOn"),
                    f"{path}.authoredOn",
                ),
                "ends_at": v.datetime(
                    validity.get("end"), f"{path}.dispenseRequest.validityPeriod.end"
                ),
            }
        )
        subject(row, resource, f"{path}.subject", urns)
        row.want(
            "encounter",
            resource.get("encounter"),
            f"{path}.encounter",
            ("Encounter",),
            urns,
        )
        row.want(
            "prescriber",
            resource.get("requester"),
            f"{path}.requester",
            ("Practitioner",),
            urns,
        )
        return row


# R4's MedicationAdministration statuses; "dispensed" is HL7 RDS's own.
FHIR_ADMINISTRATION_STATUSES = set(MedicationAdministration.Status.values) - {
    MedicationAdministration.Status.DISPENSED
}


class MedicationAdministrationMapper(Mapper):
    """A dose given or not given, linked to the order it fulfils."""

    resource_type = "MedicationAdministration"
    model = MedicationAdministration
    links = ("patient", "order", "performer")

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        path = "MedicationAdministration"
        drug = v.concept_text(
            resource.get("medicationCodeableConcept"),
            f"{path}.medicationCodeableConcept",
        ) or v.text(
            (resource.get("medicationReference") or {}).get("display"),
            f"{path}.medicationReference.display",
        )
        if not drug and not resource.get("request"):
            raise Invalid(
                f"{path}.medication is missing and no request says which order: "
                "the drug is unknown"
            )
        period = resource.get("effectivePeriod") or {}
        given_at = v.datetime(
            resource.get("effectiveDateTime") or period.get("start"),
            f"{path}.effective",
        )
        if given_at is None:
            raise Invalid(f"{path}.effective[x] is missing: when is unknown")
        dosage = resource.get("dosage") or {}
        if not isinstance(dosage, dict):
            raise Invalid(f"{path}.dosage is not an object")
        reasons = [
            v.concept_text(c, f"{path}.statusReason")
            for c in v.items(resource.get("statusReason"), f"{path}.statusReason")
        ]
        row = Row(
            {
                "drug": drug,
                "drug_code": v.concept_code(
                    resource.get("medicationCodeableConcept"), f"{path}.medication"
                ),
                "dose": amount(dosage["dose"], f"{path}.dosage.dose")
                if dosage.get("dose")
                else "",
                "route": v.concept_text(dosage.get("route"), f"{path}.dosage.route"),
                "given_at": given_at,
                "status": v.code(
                    resource.get("status"),
                    f"{path}.status",
                    FHIR_ADMINISTRATION_STATUSES,
                    required=True,
                ),
                "reason": "; ".join(r for r in reasons if r),
            }
        )
        subject(row, resource, f"{path}.subject", urns)
        row.want(
            "order",
            resource.get("request"),
            f"{path}.request",
            ("MedicationRequest",),
            urns,
        )
        # The first performer who is a practitioner (a role, the patient or
        # a device may be named too: not a name the MAR shows).
        for number, performer in enumerate(
            v.items(resource.get("performer"), f"{path}.performer")
        ):
            actor = performer.get("actor") if isinstance(performer, dict) else None
            where = f"{path}.performer[{number}].actor"
            try:
                parse_reference(actor, where, ("Practitioner",), urns)
            except Invalid:
                continue
            row.want("performer", actor, where, ("Practitioner",), urns)
            break
        return row

    def finish(self, rows: list[Row], context: Context) -> None:
        for row in rows:
            if not row.fields["drug"] and row.fields["order_id"] is None:
                row.problem = (
                    "MedicationAdministration.request: the order is not in the "
                    "mirror and the dose does not name its drug"
                )


def dosage_fields(dosage: dict, path: str) -> dict:
    """Dose, route, frequency, structured timing and maximum of a Dosage."""
    dose = ""
    for rate in v.items(dosage.get("doseAndRate"), f"{path}.doseAndRate"):
        if isinstance(rate, dict) and rate.get("doseQuantity"):
            dose = amount(rate["doseQuantity"], f"{path}.doseQuantity")
    timing = dosage.get("timing") or {}
    repeat = timing.get("repeat") or {}
    structured = {
        key: repeat[source]
        for key, source in (
            ("frequency", "frequency"),
            ("frequency_max", "frequencyMax"),
            ("period", "period"),
            ("period_max", "periodMax"),
            ("period_unit", "periodUnit"),
            ("times", "timeOfDay"),
            ("when", "when"),
        )
        if repeat.get(source) is not None
    }
    frequency = v.concept_text(timing.get("code"), f"{path}.timing.code")
    if not frequency and "frequency" in structured and "period" in structured:
        frequency = frequency_text(structured)
    # R4 says asNeededBoolean or asNeededCodeableConcept; R5 asNeeded and
    # asNeededFor, as some servers already send.
    reason = dosage.get("asNeededCodeableConcept") or v.first(
        dosage.get("asNeededFor"), f"{path}.asNeededFor"
    )
    return {
        "dose": dose,
        "route": v.concept_text(dosage.get("route"), f"{path}.route"),
        "frequency": frequency,
        "timing": structured,
        "as_needed": bool(
            dosage.get("asNeededBoolean") or dosage.get("asNeeded") or reason
        ),
        "as_needed_reason": v.concept_text(reason, f"{path}.asNeededCodeableConcept"),
        "max_dose": max_dose(dosage, path),
        "instructions": v.text(dosage.get("text"), f"{path}.text"),
    }


def amount(value, path: str) -> str:
    """A Quantity of drug as the mirror keeps it: "1.125 mg", never rounded."""
    shown, _, unit = v.quantity(value, path, exact=True)
    return f"{shown} {unit}".strip()


def max_dose(dosage: dict, path: str) -> dict:
    """maxDosePerPeriod (a Ratio; R5 repeats it: the first) and
    maxDosePerAdministration, as ``MedicationOrder.max_dose`` keeps them."""
    found = {}
    ratio = dosage.get("maxDosePerPeriod")
    if isinstance(ratio, list):
        ratio = v.first(ratio, f"{path}.maxDosePerPeriod")
    if ratio is not None:
        if not isinstance(ratio, dict):
            raise Invalid(f"{path}.maxDosePerPeriod is not a Ratio")
        numerator = ratio.get("numerator")
        per = ratio.get("denominator") or {}
        if numerator:
            found["per_period"] = amount(numerator, f"{path}.maxDosePerPeriod")
            _, period, _ = v.quantity(per, f"{path}.maxDosePerPeriod.denominator")
            found["period"] = 1 if period is None else period
            # A UCUM code (d), else the unit's text (day); none: unknown.
            found["period_unit"] = str(per.get("code") or per.get("unit") or "")[:16]
    per_dose = dosage.get("maxDosePerAdministration")
    if per_dose:
        found["per_dose"] = amount(per_dose, f"{path}.maxDosePerAdministration")
    return found


def frequency_text(timing: dict) -> str:
    """Language-neutral UCUM shorthand: 2x/d, 1x/8h."""
    period = timing["period"]
    per = "" if period == 1 else f"{period:g}"
    return f"{timing['frequency']}x/{per}{timing.get('period_unit', '')}"


class ObservationMapper(Mapper):
    resource_type = "Observation"
    model = Observation
    links = ("patient", "encounter")

    def accepts(self, resource: dict) -> bool:
        return not v.has_coding(resource.get("code"), SNOMED, RESUSCITATION_STATUS)

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        name = v.concept_text(resource.get("code"), "Observation.code")
        if not name:
            raise Invalid("Observation.code is missing")
        shown, number, unit = observation_value(resource)
        row = Row(
            {
                "category": self._category(resource.get("category")),
                "code": v.concept_code(resource.get("code"), "Observation.code"),
                "name": name,
                "value": shown,
                "value_number": number,
                "unit": unit,
                "reference_range": self._range(resource.get("referenceRange")),
                "abnormal_flag": v.concept_code(
                    v.first(
                        resource.get("interpretation"), "Observation.interpretation"
                    ),
                    "Observation.interpretation",
                )[:8],
                "status": v.code(resource.get("status"), "Observation.status")[:16],
                "effective_at": v.datetime(
                    resource.get("effectiveDateTime")
                    or (resource.get("effectivePeriod") or {}).get("start")
                    or resource.get("issued"),
                    "Observation.effective",
                ),
            }
        )
        subject(row, resource, "Observation.subject", urns)
        row.want(
            "encounter",
            resource.get("encounter"),
            "Observation.encounter",
            ("Encounter",),
            urns,
        )
        return row

    def _category(self, categories) -> str:
        for concept in v.items(categories, "Observation.category"):
            for kind in (
                Observation.Category.VITAL_SIGNS,
                Observation.Category.LABORATORY,
            ):
                if v.has_coding(concept, OBSERVATION_CATEGORY, {kind}):
                    return kind
        return Observation.Category.OTHER

    def _range(self, ranges) -> str:
        found = v.first(ranges, "Observation.referenceRange")
        if not isinstance(found, dict):
            return ""
        if found.get("text"):
            return v.text(found["text"], "Observation.referenceRange.text")
        low = found.get("low") and v.quantity(found["low"], "referenceRange.low")[0]
        high = found.get("high") and v.quantity(found["high"], "referenceRange.high")[0]
        if low and high:
            return f"{low}-{high}"
        return f">={low}" if low else f"<={high}" if high else ""


def observation_value(resource: dict) -> tuple[str, float | None, str]:
    """(value as a person reads it, number if any, unit)."""
    if "valueQuantity" in resource:
        return v.quantity(resource["valueQuantity"], "Observation.valueQuantity")
    if "valueCodeableConcept" in resource:
        text = v.concept_text(resource["valueCodeableConcept"], "Observation.value")
        return text, None, ""
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDateTime"):
        if key in resource:
            value = resource[key]
            number = value if type(value) in (int, float) else None
            return str(value), number, ""
    components = {}
    for component in v.items(resource.get("component"), "Observation.component"):
        code = v.concept_code(
            component.get("code"), "Observation.component.code", LOINC
        )
        if "valueQuantity" in component:
            components[code] = v.quantity(
                component["valueQuantity"], "Observation.component.valueQuantity"
            )
    if SYSTOLIC in components and DIASTOLIC in components:
        systolic, diastolic = components[SYSTOLIC], components[DIASTOLIC]
        return f"{systolic[0]}/{diastolic[0]}", systolic[1], systolic[2]
    return " ".join(f"{c[0]} {c[2]}".strip() for c in components.values()), None, ""


class ServiceRequestMapper(Mapper):
    """Lab orders; other service requests are counted as ignored."""

    resource_type = "ServiceRequest"
    model = LabOrder
    links = ("patient", "encounter", "requester")

    def accepts(self, resource: dict) -> bool:
        categories = resource.get("category")
        if not categories:
            return True
        return any(
            v.has_coding(c, SNOMED, LAB_CATEGORY)
            for c in categories
            if isinstance(c, dict)
        )

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        path = "ServiceRequest"
        test = v.concept_text(resource.get("code"), f"{path}.code")
        if not test:
            raise Invalid(f"{path}.code is missing: the test is unknown")
        status = v.code(
            resource.get("status"),
            f"{path}.status",
            set(LabOrder.Status.values),
            required=True,
        )
        specimens = [
            v.text(s.get("display"), f"{path}.specimen.display")
            for s in v.items(resource.get("specimen"), f"{path}.specimen")
            if isinstance(s, dict)
        ]
        row = Row(
            {
                "order_number": self._order_number(resource),
                "test": test,
                "test_code": v.concept_code(resource.get("code"), f"{path}.code"),
                "priority": v.code(
                    resource.get("priority"),
                    f"{path}.priority",
                    set(LabOrder.Priority.values),
                ),
                "status": status,
                "ordered_at": v.datetime(
                    resource.get("authoredOn"), f"{path}.authoredOn"
                ),
                "specimen": ", ".join(s for s in specimens if s),
            }
        )
        subject(row, resource, f"{path}.subject", urns)
        row.want(
            "encounter",
            resource.get("encounter"),
            f"{path}.encounter",
            ("Encounter",),
            urns,
        )
        row.want(
            "requester",
            resource.get("requester"),
            f"{path}.requester",
            ("Practitioner",),
            urns,
        )
        return row

    def _order_number(self, resource: dict) -> str:
        """The placer order number (PLAC), else the first identifier."""
        found = ""
        for entry in v.items(resource.get("identifier"), "ServiceRequest.identifier"):
            if not isinstance(entry, dict) or not entry.get("value"):
                continue
            value = v.identifier(
                entry["value"], "ServiceRequest.identifier.value", limit=64
            )
            if (
                v.concept_code(entry.get("type"), "ServiceRequest.identifier.type")
                == "PLAC"
            ):
                return value
            found = found or value
        if not found:
            raise Invalid("ServiceRequest.identifier is missing: no order number")
        return found


class FlagMapper(Mapper):
    resource_type = "Flag"
    model = Flag

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        text = v.concept_text(resource.get("code"), "Flag.code")
        if not text:
            raise Invalid("Flag.code is missing")
        period = resource.get("period") or {}
        row = Row(
            {
                "kind": self._kind(resource),
                "text": text,
                "code": v.concept_code(resource.get("code"), "Flag.code"),
                "active": v.code(
                    resource.get("status"),
                    "Flag.status",
                    {"active", "inactive", "entered-in-error"},
                )
                == "active",
                "starts_at": v.datetime(period.get("start"), "Flag.period.start"),
                "ends_at": v.datetime(period.get("end"), "Flag.period.end"),
            }
        )
        subject(row, resource, "Flag.subject", urns)
        return row

    def _kind(self, resource: dict) -> str:
        categories = v.items(resource.get("category"), "Flag.category")

        def has(code):
            return any(v.has_coding(c, FLAG_CATEGORY, {code}) for c in categories)

        if has("advance-directive") or v.has_coding(
            resource.get("code"), SNOMED, RESUSCITATION_STATUS
        ):
            return Flag.Kind.CODE_STATUS
        if v.has_coding(resource.get("code"), SNOMED, ISOLATION):
            return Flag.Kind.ISOLATION
        if has("diet"):
            return Flag.Kind.DIET
        return Flag.Kind.OTHER


class CodeStatusObservationMapper(Mapper):
    """An Observation of resuscitation status, kept as a code-status flag."""

    resource_type = "Observation"
    model = Flag

    def accepts(self, resource: dict) -> bool:
        return v.has_coding(resource.get("code"), SNOMED, RESUSCITATION_STATUS)

    def map(self, resource: dict, urns: Mapping[str, str]) -> Row:
        text, _, _ = observation_value(resource)
        if not text:
            raise Invalid("Observation.value is missing: the code status is unknown")
        status = v.code(resource.get("status"), "Observation.status")
        row = Row(
            {
                "kind": Flag.Kind.CODE_STATUS,
                "text": text,
                "code": v.concept_code(resource.get("valueCodeableConcept"), "value"),
                "active": status in {"final", "amended", "corrected"},
                "starts_at": v.datetime(
                    resource.get("effectiveDateTime"), "Observation.effectiveDateTime"
                ),
                "ends_at": None,
            }
        )
        subject(row, resource, "Observation.subject", urns)
        return row
