"""Small builders of FHIR R4 resources and files for the ingest tests."""

import contextlib
import http.server
import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from patients.models import (
    Allergy,
    Clinician,
    Encounter,
    Location,
    MedicationAdministration,
    MedicationOrder,
    Observation,
    Organization,
    Patient,
    Problem,
    Report,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "fhir"
BUNDLES = SHARED / "synthea-r4-bundles"
BULK = SHARED / "bulk-ndjson-10-patients"
# Resource type -> the table that mirrors it, for counting.
MIRRORED = {
    "Patient": Patient,
    "Encounter": Encounter,
    "AllergyIntolerance": Allergy,
    "Condition": Problem,
    "MedicationRequest": MedicationOrder,
    "MedicationAdministration": MedicationAdministration,
    "Observation": Observation,
    "DiagnosticReport": Report,
    "Organization": Organization,
    "Practitioner": Clinician,
    "Location": Location,
}
MR = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
    ]
}


def patient(pid: str, *, mrn: str | None = None, **extra) -> dict:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"type": MR, "system": "urn:test:mrn", "value": mrn or pid}],
        "name": [{"family": "Peeters", "given": ["Anaïs"]}],
        "gender": "female",
        "birthDate": "1950-03-01",
        **extra,
    }


def location(lid: str, kind: str, *, part_of: str | None = None) -> dict:
    resource = {
        "resourceType": "Location",
        "id": lid,
        "name": lid.upper(),
        "physicalType": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                    "code": kind,
                }
            ]
        },
    }
    if part_of:
        resource["partOf"] = {"reference": f"Location/{part_of}"}
    return resource


def encounter(
    eid: str, pid: str, *, status: str = "in-progress", bed: str = "", updated: str = ""
) -> dict:
    resource = {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"code": "IMP"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": "2026-11-20T08:00:00+01:00"},
    }
    if bed:
        resource["location"] = [{"location": {"reference": f"Location/{bed}"}}]
    if updated:
        resource["meta"] = {"lastUpdated": updated}
    return resource


def allergy(aid: str, pid: str, substance: str) -> dict:
    return {
        "resourceType": "AllergyIntolerance",
        "id": aid,
        "code": {"text": substance},
        "patient": {"reference": f"Patient/{pid}"},
        "criticality": "high",
        "reaction": [
            {"manifestation": [{"text": "Anaphylaxis"}], "severity": "severe"}
        ],
    }


def medication(mid: str, pid: str, drug: str, **dosage) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {"text": drug},
        "dosageInstruction": [dosage],
    }


def ward_with_beds(*beds: str) -> list[dict]:
    rooms = [location(f"room-{bed}", "ro", part_of="ward-a") for bed in beds]
    return [
        location("ward-a", "wa"),
        *rooms,
        *(location(bed, "bd", part_of=f"room-{bed}") for bed in beds),
    ]


def write_ndjson(folder: Path, resources: list[dict]) -> Path:
    """One ``<Type>.000.ndjson`` per type, as a Bulk Data export has."""
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for kind, lines in by_type.items():
        (folder / f"{kind}.000.ndjson").write_text("\n".join(lines) + "\n")
    return folder


def write_bundle(path: Path, resources: list[dict], kind: str = "collection") -> Path:
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    path.write_text(
        json.dumps({"resourceType": "Bundle", "type": kind, "entry": entries})
    )
    return path


@contextlib.contextmanager
def bundle_server(bundle: dict) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that answers every GET with ``bundle``;
    yields its FHIR base URL and the list of paths asked so far."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps(bundle).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with serving(Handler) as base:
        yield base, asked


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on 127.0.0.1 in a thread; yields its FHIR base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def sekmet_server(
    folder: Path, *, port: int = 0, loader_token: str = "", **options
) -> Iterator[str]:
    """A sekmet-fhir server (a real FHIR R4 server) on 127.0.0.1, empty,
    with ``options`` in its settings (``server_auth``...); yields its FHIR
    base URL. ``loader_token``: the static bearer token a test loads it with."""
    from tests.processes import VENV_BIN, free_port, missing, stop, wait_for

    sekmet = VENV_BIN / "sekmet"
    if not sekmet.exists():
        missing("sekmet-fhir (the FHIR server of the pull tests)")
    port = port or free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "base_url": base,  # else next links lead to localhost:8090
        "db_path": ":memory:",
        "log_inbound": False,
        "simulator": {"enabled": False},  # else it makes resources of its own
        **options,
    }
    # YAML reads JSON.
    (folder / "settings.yaml").write_text(json.dumps(settings))
    log = folder / "sekmet.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(sekmet), "serve", "-c", str(folder / "settings.yaml")],
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: (
                fhir_request("GET", f"{base}/metadata", token=loader_token)[
                    "resourceType"
                ]
                == "CapabilityStatement"
            ),
            timeout=30,
            what=f"FHIR server start (log: {log})",
            process=process,
        )
        yield base
    finally:
        stop(process)


def fhir_request(
    method: str, url: str, resource: dict | None = None, *, token: str = ""
) -> dict:
    body = json.dumps(resource).encode() if resource is not None else None
    headers = {"Accept": "application/fhir+json"}
    if body is not None:
        headers["Content-Type"] = "application/fhir+json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(
        urllib.request.Request(url, data=body, headers=headers, method=method),
        timeout=60,
    ) as response:
        return json.loads(response.read())


def sekmet_load(base: str, paths: list[Path], *, token: str = "") -> None:
    """POST transaction bundles, organisations and practitioners first
    (patient bundles refer to them)."""
    shared = ("hospitalInformation", "practitionerInformation")
    for path in sorted(paths, key=lambda path: not path.name.startswith(shared)):
        answer = fhir_request("POST", base, json.loads(path.read_text()), token=token)
        assert answer["type"] == "transaction-response", path.name
