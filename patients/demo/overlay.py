"""The shared Synthea patients made current: a time-shifted copy admitted to
the demo hospital's beds, with charts, code status and pending orders.

Synthea's records end years ago and have no wards, beds, appointments or
pending orders; the overlay adds those, deterministically for a seed.
"""

import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path

from patients.demo.hospital import Hospital

_MOMENT = re.compile(r"^(\d{4}-\d{2}-\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))?$")


def shift(value, days: int):
    """Every date and dateTime in a resource moved by whole days."""
    if isinstance(value, dict):
        return {key: shift(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [shift(item, days) for item in value]
    if isinstance(value, str):
        match = _MOMENT.match(value)
        if match:
            day = dt.date.fromisoformat(match.group(1)) + dt.timedelta(days=days)
            return day.isoformat() + (match.group(2) or "")
    return value


def synthea_overlay(
    bundles: Iterable[Path], *, seed: int, now: dt.datetime, wards: int = 2
) -> list[dict]:
    """Synthea bundles' resources, shifted so that their last encounter ended
    yesterday, plus a hospital whose beds hold most of those patients."""
    resources = [
        entry["resource"]
        for path in sorted(bundles)
        for entry in json.loads(path.read_text())["entry"]
    ]
    ends = [
        r["period"]["end"][:10]
        for r in resources
        if r["resourceType"] == "Encounter" and r.get("period", {}).get("end")
    ]
    days = (now.date() - dt.timedelta(days=1) - dt.date.fromisoformat(max(ends))).days
    shifted = [shift(resource, days) for resource in resources]
    hospital = Hospital(wards=wards, beds=24, seed=seed, now=now, occupancy=0)
    places = list(hospital.resources())
    beds = [
        r["id"]
        for r in places
        if r["resourceType"] == "Location"
        and r.get("physicalType", {}).get("text") == "bd"
    ]
    patients = sorted(r["id"] for r in shifted if r["resourceType"] == "Patient")
    admitted = hospital.rng.sample(patients, min(len(beds), len(patients) * 2 // 3))
    charts = [
        resource
        for pid, bed in zip(sorted(admitted), beds, strict=False)
        for resource in hospital.chart(pid, bed, bed.rsplit("-r", 1)[0])
    ]
    return [*places, *shifted, *charts]
