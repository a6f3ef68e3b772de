"""The demo hospital as FHIR R4 resources: deterministic for a seed and a
moment (times are relative to ``now``, floored to the hour). The clinics'
day and the morning blood draw are set on the hospital's clock
(``TIME_ZONE``), whatever the zone of the ``now`` given."""

import base64
import datetime as dt
import random
from collections.abc import Iterator

from django.utils import timezone

from patients.demo import catalogue as c
from patients.summary.clinical import due_hours

MR = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
    ]
}
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MRN_SYSTEM = "urn:demo:hospital:mrn"


def stamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def ref(kind: str, rid: str) -> dict:
    return {"reference": f"{kind}/{rid}"}


def concept(text: str, system: str = "", code: str = "") -> dict:
    found = {"text": text}
    if code:
        found["coding"] = [{"system": system, "code": code, "display": text}]
    return found


class Hospital:
    """Builds the resources; ``resources()`` yields them in a sensible order."""

    def __init__(
        self,
        *,
        wards: int,
        beds: int,
        seed: int,
        now: dt.datetime,
        occupancy: float = 0.85,
        clinics: int = len(c.CLINICS),
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        # Doses and reports draw from their own stream: the rest of the
        # hospital stays what it was for a seed.
        self.charted = random.Random(seed + 104_729)  # noqa: S311
        self.wards, self.beds, self.occupancy = wards, beds, occupancy
        self.clinics = clinics
        self.now = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
        self.patients = 0

    def resources(self) -> Iterator[dict]:
        yield {
            "resourceType": "Organization",
            "id": "demo-hospital",
            "name": "Hôpital Sainte-Élisabeth / Sint-Elisabethziekenhuis",
            "identifier": [{"system": "urn:demo:org", "value": "H1"}],
        }
        yield self._location("demo-site", "Campus Sainte-Élisabeth", "si")
        yield from self._doctors()
        yield from self._nurses()
        for number in range(self.wards):
            yield from self._ward(number)
        for number in range(self.clinics):
            code, name = c.CLINICS[number % len(c.CLINICS)]
            key = code.lower()
            if number >= len(c.CLINICS):  # more clinics than names: number them
                key, name = f"{key}{number}", f"{name} {number // len(c.CLINICS) + 1}"
            yield from self._clinic(code, name, key)

    # Places and people

    def _location(
        self, lid: str, name: str, physical: str, parent: str = "", role: str = ""
    ) -> dict:
        resource = {
            "resourceType": "Location",
            "id": lid,
            "name": name,
            "status": "active",
            "identifier": [{"system": "urn:demo:location", "value": lid}],
            "physicalType": concept(physical, PHYSICAL, physical),
        }
        if role:
            resource["type"] = [concept(name, ROLE, role)]
            del resource["physicalType"]
        if parent:
            resource["partOf"] = ref("Location", parent)
        return resource

    def _doctors(self) -> Iterator[dict]:
        for number, (prefix, family, given) in enumerate(c.DOCTORS):
            yield {
                "resourceType": "Practitioner",
                "id": f"demo-dr-{number}",
                "identifier": [{"system": "urn:demo:riziv", "value": f"1{number:07d}"}],
                "name": [{"family": family, "given": [given], "prefix": [prefix]}],
                "telecom": [
                    {
                        "system": "phone",
                        "value": f"+32 2 555 2{number:03d}",
                        "use": "work",
                    }
                ],
            }

    def _nurses(self) -> Iterator[dict]:
        for number, (family, given) in enumerate(c.NURSES):
            yield {
                "resourceType": "Practitioner",
                "id": f"demo-rn-{number}",
                "identifier": [{"system": "urn:demo:nurse", "value": f"N{number:04d}"}],
                "name": [{"family": family, "given": [given]}],
            }

    def _doctor(self) -> str:
        return f"demo-dr-{self.rng.randrange(len(c.DOCTORS))}"

    def _ward(self, number: int) -> Iterator[dict]:
        code, name = c.WARDS[number % len(c.WARDS)]
        code = code if number < len(c.WARDS) else f"{code}{number // len(c.WARDS)}"
        ward = f"demo-ward-{code}"
        yield self._location(ward, f"{code} {name}", "wa", "demo-site")
        for bed_number in range(self.beds):
            room = f"{ward}-r{bed_number // 2 + 1:02d}"
            if bed_number % 2 == 0:
                yield self._location(
                    room, f"{code}.{bed_number // 2 + 1:02d}", "ro", ward
                )
            bed = f"{room}-{'AB'[bed_number % 2]}"
            label = f"{code}.{bed_number // 2 + 1:02d}{'AB'[bed_number % 2]}"
            yield self._location(bed, label, "bd", room)
            if self.rng.random() < self.occupancy:
                yield from self._inpatient(bed, ward)

    def _patient(self) -> dict:
        self.patients += 1
        rng = self.rng
        female = rng.random() < 0.5
        given = rng.choice(c.GIVEN_F if female else c.GIVEN_M)
        age_days = rng.randrange(18 * 365, 96 * 365)
        postal, city = rng.choice(c.CITIES)
        contact = rng.choice(c.GIVEN_F + c.GIVEN_M)
        pid = f"demo-p{self.patients:05d}"
        return {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [
                {
                    "type": MR,
                    "system": MRN_SYSTEM,
                    "value": f"{40000000 + self.patients * 7:08d}",
                }
            ],
            "name": [
                {"use": "official", "family": rng.choice(c.FAMILY), "given": [given]}
            ],
            "gender": "female" if female else "male",
            "birthDate": (self.now.date() - dt.timedelta(days=age_days)).isoformat(),
            "telecom": [
                {
                    "system": "phone",
                    "use": "mobile",
                    "value": f"+32 4{rng.randrange(70, 99)} {rng.randrange(10, 99)} "
                    f"{rng.randrange(10, 99)} {rng.randrange(10, 99)}",
                }
            ],
            "address": [
                {
                    "line": [f"{rng.choice(c.STREETS)} {rng.randrange(1, 200)}"],
                    "postalCode": postal,
                    "city": city,
                    "country": "BE",
                }
            ],
            "contact": [
                {
                    "relationship": [
                        {
                            "text": rng.choice(
                                ("Spouse", "Daughter", "Son", "Partner", "Neighbour")
                            )
                        }
                    ],
                    "name": {"family": rng.choice(c.FAMILY), "given": [contact]},
                    "telecom": [
                        {
                            "system": "phone",
                            "value": f"+32 4{rng.randrange(70, 99)} 12 34 56",
                        }
                    ],
                }
            ],
        }

    # An inpatient and everything on their chart

    def _inpatient(self, bed: str, ward: str) -> Iterator[dict]:
        patient = self._patient()
        yield patient
        yield from self.chart(patient["id"], bed, ward)

    def chart(self, pid: str, bed: str, ward: str) -> Iterator[dict]:
        """A current stay in ``bed`` and what a ward's chart holds for it."""
        admitted = self.now - dt.timedelta(hours=self.rng.randrange(6, 24 * 12))
        eid = f"{pid}-stay"
        reason = self.rng.choice(c.PROBLEMS)
        yield {
            "resourceType": "Encounter",
            "id": eid,
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
            },
            "subject": ref("Patient", pid),
            "participant": [
                {
                    "type": [{"coding": [{"code": "ATND"}]}],
                    "individual": ref("Practitioner", self._doctor()),
                }
            ],
            "period": {"start": stamp(admitted)},
            "reasonCode": [concept(reason[1], SNOMED, reason[0])],
            "hospitalization": {"dietPreference": [concept(self.rng.choice(c.DIETS))]},
            "location": [
                {"location": ref("Location", bed), "status": "active"},
                {"location": ref("Location", ward), "status": "active"},
            ],
        }
        yield from self._allergies(pid)
        yield from self._problems(pid)
        yield from self._medications(pid, eid, admitted)
        yield from self._vitals(pid, eid)
        yield from self._measures(pid, eid, admitted)
        yield from self._labs(pid, eid)
        yield from self._pending(pid, eid)
        yield from self._flags(pid)
        yield from self._reports(pid, eid, admitted, reason[1])

    def _allergies(self, pid: str) -> Iterator[dict]:
        count = self.rng.choices((0, 1, 2, 3), weights=(55, 30, 10, 5))[0]
        chosen = self.rng.sample(c.ALLERGIES, count)
        if not chosen:
            text, code = c.NO_KNOWN_ALLERGY
            yield {
                "resourceType": "AllergyIntolerance",
                "id": f"{pid}-nka",
                "clinicalStatus": concept("active", "", "active"),
                "verificationStatus": concept("confirmed", "", "confirmed"),
                "code": concept(text, SNOMED, code),
                "patient": ref("Patient", pid),
            }
        for number, (substance, code, reaction, severity, criticality) in enumerate(
            chosen
        ):
            yield {
                "resourceType": "AllergyIntolerance",
                "id": f"{pid}-al{number}",
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "verificationStatus": {"coding": [{"code": "confirmed"}]},
                "criticality": criticality,
                "code": concept(substance, SNOMED, code),
                "patient": ref("Patient", pid),
                "reaction": [
                    {"manifestation": [concept(reaction)], "severity": severity}
                ],
            }

    def _problems(self, pid: str) -> Iterator[dict]:
        for number, (code, text) in enumerate(
            self.rng.sample(c.PROBLEMS, self.rng.randrange(1, 5))
        ):
            yield {
                "resourceType": "Condition",
                "id": f"{pid}-pb{number}",
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": concept(text, SNOMED, code),
                "subject": ref("Patient", pid),
            }

    def _medications(self, pid: str, eid: str, admitted: dt.datetime) -> Iterator[dict]:
        drugs = self.rng.sample(c.DRUGS, self.rng.randrange(5, 16))
        for number, (drug, dose, unit, route, timing, times, prn) in enumerate(drugs):
            dosage = {
                "route": concept(route),
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
            }
            if timing:
                frequency, period, period_unit = timing
                repeat = {
                    "frequency": frequency,
                    "period": period,
                    "periodUnit": period_unit,
                }
                if times:
                    repeat["timeOfDay"] = [f"{t}:00" for t in times]
                dosage["timing"] = {"repeat": repeat}
            if prn:
                dosage["asNeededCodeableConcept"] = concept(prn)
                dosage["maxDosePerPeriod"] = {
                    "numerator": {"value": c.PRN_MAX_PER_DAY[drug], "unit": unit},
                    "denominator": {"value": 1, "unit": "day", "code": "d"},
                }
            order = {
                "resourceType": "MedicationRequest",
                "id": f"{pid}-rx{number}",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": concept(drug),
                "subject": ref("Patient", pid),
                "encounter": ref("Encounter", eid),
                "authoredOn": stamp(admitted + dt.timedelta(minutes=30 + number)),
                "requester": ref("Practitioner", self._doctor()),
                "dosageInstruction": [dosage],
            }
            yield order
            yield from self._doses(order, admitted)

    def _doses(self, order: dict, admitted: dt.datetime) -> Iterator[dict]:
        """The order's doses since admission over the last day and a half,
        as Synthea writes MedicationAdministration (and with the order they
        fulfil, as an EHR does): at its times of day, one in fifteen not
        given; an as-needed one now and then."""
        rng = self.charted
        dosage = order["dosageInstruction"][0]
        repeat = dosage.get("timing", {}).get("repeat", {})
        hours = due_hours(
            {
                "times": repeat.get("timeOfDay", ()),
                "frequency": repeat.get("frequency"),
                "period": repeat.get("period"),
                "period_unit": repeat.get("periodUnit"),
            }
        )
        start = max(admitted, self.now - dt.timedelta(hours=36))
        if "asNeededCodeableConcept" in dosage:
            moments = [
                self.now - dt.timedelta(minutes=rng.randrange(20, 36 * 60))
                for _ in range(rng.choice((0, 0, 1, 2)))
            ]
        else:
            days = (self.now.date() - dt.timedelta(days=n) for n in (1, 0))
            moments = [
                self.now.replace(year=d.year, month=d.month, day=d.day, hour=h)
                for d in days
                for h in hours
            ]
        for moment in sorted(m for m in moments if start < m <= self.now):
            given = rng.random() > 1 / 15
            dose = {
                "resourceType": "MedicationAdministration",
                "id": f"{order['id']}-ma{moment:%d%H%M}",
                "status": "completed" if given else "not-done",
                "medicationCodeableConcept": order["medicationCodeableConcept"],
                "subject": order["subject"],
                "context": order["encounter"],
                "effectiveDateTime": stamp(
                    min(moment + dt.timedelta(minutes=rng.randrange(0, 25)), self.now)
                ),
                "performer": [
                    {
                        "actor": ref(
                            "Practitioner", f"demo-rn-{rng.randrange(len(c.NURSES))}"
                        )
                    }
                ],
                "request": ref("MedicationRequest", order["id"]),
                "dosage": {
                    "route": dosage["route"],
                    "dose": dosage["doseAndRate"][0]["doseQuantity"],
                },
            }
            if not given:
                dose["statusReason"] = [concept(rng.choice(c.NOT_GIVEN))]
            yield dose

    def _reports(
        self, pid: str, eid: str, admitted: dt.datetime, reason: str
    ) -> Iterator[dict]:
        """An admission note, and an imaging report or two in some stays."""
        rng = self.charted
        note = c.ADMISSION_NOTE.format(reason=reason)
        yield {
            "resourceType": "DocumentReference",
            "id": f"{pid}-note",
            "status": "current",
            "docStatus": "final",
            "type": concept("Admission note", LOINC, "47039-3"),
            "category": [concept("Clinical note")],
            "subject": ref("Patient", pid),
            "date": stamp(admitted + dt.timedelta(hours=2)),
            "author": [{"display": "Dr " + rng.choice(c.DOCTORS)[1]}],
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": base64.b64encode(note.encode()).decode(),
                    }
                }
            ],
            "context": {"encounter": [ref("Encounter", eid)]},
        }
        for number in range(rng.choice((0, 0, 1, 1, 2))):
            code, title, findings, conclusion = rng.choice(c.IMAGING)
            issued = admitted + (self.now - admitted) * rng.random()
            yield {
                "resourceType": "DiagnosticReport",
                "id": f"{pid}-img{number}",
                "status": rng.choice(("final", "final", "final", "preliminary")),
                "category": [concept("Radiology", "http://loinc.org", "LP29684-5")],
                "code": concept(title, LOINC, code),
                "subject": ref("Patient", pid),
                "encounter": ref("Encounter", eid),
                "issued": stamp(issued),
                "performer": [{"display": "Dr " + rng.choice(c.DOCTORS)[1]}],
                "conclusion": conclusion,
                "presentedForm": [
                    {
                        "contentType": "text/plain",
                        "data": base64.b64encode(findings.encode()).decode(),
                    }
                ],
            }

    def _observation(
        self, oid: str, pid: str, eid: str, category: str, spec: tuple, when, value
    ) -> dict:
        """A measured value; ``spec`` is a catalogue row (code, name, unit,
        low, high, ...)."""
        code, name, unit, low, high = spec[:5]
        flag = "H" if value > high else "L" if value < low else "N"
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": [concept(category, OBS_CATEGORY, category)],
            "code": concept(name, LOINC, code),
            "subject": ref("Patient", pid),
            "encounter": ref("Encounter", eid),
            "effectiveDateTime": stamp(when),
            "valueQuantity": {"value": value, "unit": unit},
            "referenceRange": [
                {
                    "low": {"value": low, "unit": unit},
                    "high": {"value": high, "unit": unit},
                }
            ],
            "interpretation": [concept(flag, "", flag)],
        }

    def _vitals(self, pid: str, eid: str) -> Iterator[dict]:
        rng = self.rng
        for round_number in range(6):  # every 4 h over the last 24 h
            when = self.now - dt.timedelta(hours=4 * round_number + 2)
            for spec in c.VITALS:
                code, mean, spread = spec[0], spec[5], spec[6]
                value = round(rng.gauss(mean, spread / 2), 1)
                yield self._observation(
                    f"{pid}-v{round_number}-{code}",
                    pid,
                    eid,
                    "vital-signs",
                    spec,
                    when,
                    value,
                )
            systolic, diastolic = rng.randrange(95, 175), rng.randrange(55, 100)
            yield {
                "resourceType": "Observation",
                "id": f"{pid}-v{round_number}-bp",
                "status": "final",
                "category": [concept("vital-signs", OBS_CATEGORY, "vital-signs")],
                "code": concept("Blood pressure", LOINC, "85354-9"),
                "subject": ref("Patient", pid),
                "encounter": ref("Encounter", eid),
                "effectiveDateTime": stamp(when),
                "component": [
                    {
                        "code": concept("Systolic", LOINC, "8480-6"),
                        "valueQuantity": {"value": systolic, "unit": "mm[Hg]"},
                    },
                    {
                        "code": concept("Diastolic", LOINC, "8462-4"),
                        "valueQuantity": {"value": diastolic, "unit": "mm[Hg]"},
                    },
                ],
            }

    def _measures(self, pid: str, eid: str, admitted) -> Iterator[dict]:
        """Weight and height, taken on admission; not for everyone (a ward
        has patients nobody has weighed yet). A generator of their own, so
        that the rest of the hospital stays as it was without them."""
        rng = random.Random(f"{pid}-measures")  # noqa: S311 - demo data
        height = round(rng.gauss(171, 9))
        for code, name, unit, value in (
            (
                "29463-7",
                "Body weight",
                "kg",
                round(rng.gauss(24, 4) * height**2 / 1e4, 1),
            ),
            ("8302-2", "Body height", "cm", height),
        ):
            if rng.random() < 0.12:
                continue
            yield {
                "resourceType": "Observation",
                "id": f"{pid}-{name.split()[1].lower()}",
                "status": "final",
                "category": [concept("vital-signs", OBS_CATEGORY, "vital-signs")],
                "code": concept(name, LOINC, code),
                "subject": ref("Patient", pid),
                "encounter": ref("Encounter", eid),
                "effectiveDateTime": stamp(admitted + dt.timedelta(hours=1)),
                "valueQuantity": {"value": value, "unit": unit},
            }

    def _labs(self, pid: str, eid: str) -> Iterator[dict]:
        for day in range(2):
            when = self.now.replace(hour=6) - dt.timedelta(
                days=day + (self.now.hour < 6)
            )
            for spec in c.LABS:
                code, mean, spread = spec[0], spec[5], spec[6]
                value = round(max(0.1, self.rng.gauss(mean, spread)), 1)
                yield self._observation(
                    f"{pid}-l{day}-{code}", pid, eid, "laboratory", spec, when, value
                )

    def _pending(self, pid: str, eid: str) -> Iterator[dict]:
        tests = self.rng.sample(c.PENDING_TESTS, self.rng.randrange(1, 4))
        for number, (code, name, specimen) in enumerate(tests):
            order = f"L{self.patients:05d}{number}"
            yield {
                "resourceType": "ServiceRequest",
                "id": f"{pid}-lab{number}",
                "identifier": [
                    {
                        "type": {"coding": [{"code": "PLAC"}]},
                        "system": "urn:demo:lab-order",
                        "value": order,
                    }
                ],
                "status": "active",
                "intent": "order",
                "priority": self.rng.choice(("routine", "routine", "urgent", "stat")),
                "category": [concept("Laboratory procedure", SNOMED, "108252007")],
                "code": concept(name, LOINC, code),
                "subject": ref("Patient", pid),
                "encounter": ref("Encounter", eid),
                "authoredOn": stamp(
                    self.now - dt.timedelta(hours=self.rng.randrange(1, 12))
                ),
                "requester": ref("Practitioner", self._doctor()),
                "specimen": [{"display": specimen}],
            }

    def _flags(self, pid: str) -> Iterator[dict]:
        texts, weights = zip(*c.CODE_STATUS, strict=True)
        status = self.rng.choices(texts, weights=weights)[0]
        yield {
            "resourceType": "Flag",
            "id": f"{pid}-code",
            "status": "active",
            "category": [
                concept(
                    "Advance directive",
                    "http://terminology.hl7.org/CodeSystem/flag-category",
                    "advance-directive",
                )
            ],
            "code": concept(status),
            "subject": ref("Patient", pid),
        }
        if self.rng.random() < 0.12:
            yield {
                "resourceType": "Flag",
                "id": f"{pid}-iso",
                "status": "active",
                "code": concept(self.rng.choice(c.ISOLATION), SNOMED, "40174006"),
                "subject": ref("Patient", pid),
            }

    # Clinics and their day

    def _clinic(self, code: str, name: str, key: str) -> Iterator[dict]:
        clinic = f"demo-clinic-{key}"
        yield self._location(clinic, name, "", "demo-site", role=code)
        doctor = self._doctor()
        schedule = f"{clinic}-schedule"
        yield {
            "resourceType": "Schedule",
            "id": schedule,
            "actor": [ref("Location", clinic), ref("Practitioner", doctor)],
        }
        day = self.now.replace(hour=8, minute=30)
        for number in range(self.rng.randrange(14, 22)):
            start = day + dt.timedelta(minutes=20 * number)
            patient = self._patient()
            yield patient
            slot = f"{schedule}-{number:02d}"
            yield {
                "resourceType": "Slot",
                "id": slot,
                "schedule": ref("Schedule", schedule),
                "status": "busy",
                "start": stamp(start),
                "end": stamp(start + dt.timedelta(minutes=20)),
            }
            status = (
                "booked"
                if start > self.now
                else self.rng.choice(("fulfilled", "fulfilled", "arrived", "noshow"))
            )
            if self.rng.random() < 0.08:
                status = "cancelled"
            yield {
                "resourceType": "Appointment",
                "id": f"{slot}-appt",
                "status": status,
                "start": stamp(start),
                "end": stamp(start + dt.timedelta(minutes=20)),
                "minutesDuration": 20,
                "slot": [ref("Slot", slot)],
                "serviceType": [concept("Follow-up consultation")],
                "appointmentType": _appointment_type(number),
                "participant": [
                    {"actor": ref("Patient", patient["id"]), "status": "accepted"}
                ],
            }


# A clinic's day: mostly routine visits, every seventh one urgent (seen
# even during a downtime). By position, not drawn: the demo's other random
# choices stay as they were.
_TYPES = (
    ("FOLLOWUP", "Follow-up"),
    ("ROUTINE", "Routine"),
    ("CHECKUP", "Check-up"),
    ("FOLLOWUP", "Follow-up"),
    ("EMERGENCY", "Emergency"),
    ("ROUTINE", "Routine"),
    ("WALKIN", "Walk-in"),
)


def _appointment_type(number: int) -> dict:
    code, text = _TYPES[number % len(_TYPES)]
    return concept(text, "http://terminology.hl7.org/CodeSystem/v2-0276", code)


def demo_hospital(
    *,
    wards: int,
    beds: int,
    seed: int,
    now: dt.datetime,
    occupancy: float = 0.85,
    clinics: int = len(c.CLINICS),
) -> list[dict]:
    hospital = Hospital(
        wards=wards,
        beds=beds,
        seed=seed,
        now=now,
        occupancy=occupancy,
        clinics=clinics,
    )
    return list(hospital.resources())
