"""What a ward's binder calls a change of a patient's section."""

import hashlib
import json

# What a patient's section shows, by what a ward's binder calls a change:
# the facets of ``section_facets``. Any other field of the section counts
# as "details" (a new field is never missed).
FACETS = {
    "allergies": (
        "allergies",
        "allergies_held",
        "code_status",
        "code_limited",
        "isolation",
        "alerts",
        "name_alert",
    ),
    "orders": ("medications", "as_needed", "pending", "diet"),
    "doses": ("doses", "other_doses"),
    "reports": ("reports",),
    "results": ("weight", "height", "vitals", "labs"),
    "bed": ("bed", "room"),
}


def section_facets(section: dict) -> dict[str, str]:
    """Per facet of ``FACETS`` (and "details": the rest), a short hash of
    what the section shows of it: two sections whose facet hashes differ
    differ in that facet."""
    listed = {key for keys in FACETS.values() for key in keys}
    groups = {
        **{
            name: {key: section.get(key) for key in keys}
            for name, keys in FACETS.items()
        },
        "details": {key: value for key, value in section.items() if key not in listed},
    }
    return {
        name: hashlib.sha256(
            json.dumps(values, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        for name, values in groups.items()
    }
