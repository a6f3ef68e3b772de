"""Where FHIR resources come from: bundle files, Bulk Data NDJSON folders and
their manifests, or resources handed over in memory (the demo generator).

A source never decides anything about the mirror: it turns input into
``Item``s (one per resource, or per piece of input that could not be read),
in an order that lets references resolve: organisations and locations before
clinicians, patients before what points to them.
"""

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from patients.ingest.mappers.directory import location_kind
from patients.ingest.references import Ref

# Referenced types first; the rest in the order a reader would expect.
ORDER = (
    "Organization",
    "Location",
    "Practitioner",
    "Patient",
    "Encounter",
    "Flag",
    "AllergyIntolerance",
    "Condition",
    "MedicationRequest",
    "Observation",
    "ServiceRequest",
    "Schedule",
    "Slot",
    "Appointment",
)
_RANK = {name: rank for rank, name in enumerate(ORDER)}
_NDJSON_NAME = re.compile(r"^([A-Z][A-Za-z]+)(?:[._-]\w+)*\.ndjson$")


def canonical_json(resource: dict) -> str:
    """Sorted keys, no spaces: equal content gives equal text (and hash)."""
    return json.dumps(resource, sort_keys=True, separators=(",", ":"))


def rank(resource_type: str) -> int:
    return _RANK.get(resource_type, len(ORDER))


@dataclass
class Item:
    """One resource as received, or the text that could not be read."""

    origin: str
    raw: str
    resource: dict | None = None
    urns: Mapping[str, str] = field(default_factory=dict)
    error: str = ""
    # Set when the item is a replay of a quarantined resource.
    quarantine_id: int | None = None
    # True when ``raw`` is already the canonical JSON the content hash uses.
    canonical: bool = False

    @property
    def resource_type(self) -> str:
        kind = self.resource.get("resourceType") if self.resource else None
        return kind if isinstance(kind, str) else ""


@dataclass
class Load:
    """Everything one import run reads."""

    items: dict[str, list[Item]] = field(default_factory=lambda: defaultdict(list))
    files: list[tuple[str, Path]] = field(default_factory=list)
    deleted: list[Ref] = field(default_factory=list)
    # Resource types this input holds completely for its patients.
    covered: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)

    def add(self, item: Item) -> None:
        self.items[item.resource_type].append(item)

    def total(self) -> int:
        """How many items there are, for the progress bar."""
        in_files = 0
        for _, path in self.files:
            with path.open("rb") as lines:
                in_files += sum(1 for line in lines if line.strip())
        return in_files + sum(len(group) for group in self.items.values())

    def chunks(self, size: int) -> Iterator[list[Item]]:
        """Items in dependency order, a chunk never mixing two types' files."""
        kinds = sorted(
            {*self.items, *(kind for kind, _ in self.files)}, key=lambda k: (rank(k), k)
        )
        for kind in kinds:
            group = self.items.get(kind, [])
            if kind == "Location":
                yield from self._locations(size)
                continue
            for start in range(0, len(group), size):
                yield group[start : start + size]
            for file_kind, path in self.files:
                if file_kind == kind:
                    yield from _batched(_ndjson_items(path), size)

    def _locations(self, size: int) -> Iterator[list[Item]]:
        """All locations at once, parents first, so that part-of resolves."""
        group = list(self.items.get("Location", []))
        for kind, path in self.files:
            if kind == "Location":
                group.extend(_ndjson_items(path))

        def depth(item: Item) -> int:
            try:
                order = ("site", "other", "clinic", "ward", "room", "bed")
                return order.index(location_kind(item.resource or {}))
            except (TypeError, AttributeError, ValueError):
                return 0  # a broken one goes first; its mapper will say why

        group.sort(key=depth)
        for start in range(0, len(group), size):
            yield group[start : start + size]


def read_paths(paths: Iterable[Path]) -> Load:
    load = Load()
    for path in paths:
        if path.is_dir():
            _read_directory(path, load)
        elif path.suffix == ".ndjson":
            _add_ndjson(path, load)
        else:
            _read_json_file(path, load)
    return load


def from_resources(resources: Iterable[dict], *, origin: str) -> Load:
    """Resources built in memory, read exactly as if they came from a file."""
    load = Load()
    for number, resource in enumerate(resources, 1):
        raw = canonical_json(resource)
        load.add(Item(f"{origin} #{number}", raw, resource, canonical=True))
        load.covered.add(resource["resourceType"])
    return load


def _read_directory(folder: Path, load: Load) -> None:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for path in files:
        if path.suffix == ".json" and _is_manifest(path):
            _read_manifest(path, load)
            return
    for path in files:
        if path.suffix == ".ndjson":
            _add_ndjson(path, load)
        elif path.suffix == ".json":
            _read_json_file(path, load)
        else:
            load.skipped.append(f"{path.name}: not a .json or .ndjson file")


def _add_ndjson(path: Path, load: Load) -> None:
    match = _NDJSON_NAME.match(path.name)
    if not match:
        load.skipped.append(
            f"{path.name}: not a Bulk Data resource file (<Type>.<n>.ndjson)"
        )
        return
    load.files.append((match.group(1), path))
    load.covered.add(match.group(1))


def _ndjson_items(path: Path) -> Iterator[Item]:
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield _parse(line.strip(), f"{path.name} line {number}")


def _parse(text: str, origin: str) -> Item:
    try:
        resource = json.loads(text)
    except json.JSONDecodeError as error:
        return Item(origin, text, error=f"not valid JSON ({error.msg} at {error.pos})")
    if not isinstance(resource, dict):
        return Item(origin, text, error="not a JSON object")
    return Item(origin, text, resource)


def _read_json_file(path: Path, load: Load) -> None:
    item = _parse(path.read_text(encoding="utf-8-sig", errors="replace"), path.name)
    resource = item.resource
    if resource is None or resource.get("resourceType") != "Bundle":
        load.add(item)
        if item.resource_type:
            load.covered.add(item.resource_type)
        return
    _read_bundle(resource, path.name, load)


def _read_bundle(bundle: dict, origin: str, load: Load) -> None:
    kind = bundle.get("type")
    if kind not in {"transaction", "batch", "collection", "searchset", "history"}:
        raw = json.dumps(bundle, ensure_ascii=False)
        load.add(Item(origin, raw, error=f"a {kind!s} Bundle cannot be imported"))
        return
    entries = bundle.get("entry") or []
    urns = {
        entry["fullUrl"]: f"{entry['resource'].get('resourceType')}/"
        f"{entry['resource'].get('id') or entry['fullUrl'].rsplit(':', 1)[-1]}"
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and str(entry.get("fullUrl", "")).startswith("urn:")
    }
    for number, entry in enumerate(entries, 1):
        where = f"{origin} entry {number}"
        _read_entry(entry, where, urns, load)


def _read_entry(entry, where: str, urns: Mapping[str, str], load: Load) -> None:
    raw = json.dumps(entry, ensure_ascii=False)
    request = entry.get("request") if isinstance(entry, dict) else None
    if isinstance(request, dict) and request.get("method") == "DELETE":
        kind, _, target = str(request.get("url", "")).partition("/")
        if kind and target and "?" not in target:
            load.deleted.append(Ref(kind, id=target))
            return
        load.add(Item(where, raw, error="a DELETE entry needs a url of Type/id"))
        return
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict):
        load.add(Item(where, raw, error="a Bundle entry without a resource"))
        return
    if resource.get("resourceType") == "OperationOutcome":
        return  # a searchset's messages about the search itself
    if not resource.get("id") and str(entry.get("fullUrl", "")).startswith("urn:"):
        resource = {**resource, "id": entry["fullUrl"].rsplit(":", 1)[-1]}
    item = Item(where, json.dumps(resource, ensure_ascii=False), resource, urns)
    load.add(item)
    load.covered.add(item.resource_type)


def _is_manifest(path: Path) -> bool:
    try:
        content = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(content, dict) and "output" in content and "request" in content


def _read_manifest(path: Path, load: Load) -> None:
    """A Bulk Data export manifest: its output files, then its deletions."""
    manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    for output in manifest.get("output") or []:
        _add_ndjson(_local(path, output.get("url", "")), load)
    for deleted in manifest.get("deleted") or []:
        for item in _ndjson_items(_local(path, deleted.get("url", ""))):
            if item.resource is None:
                load.add(item)
                continue
            _read_bundle(item.resource, item.origin, load)


def _local(manifest: Path, url: str) -> Path:
    """Export files are downloaded beside the manifest under their own names."""
    return manifest.parent / PurePosixPath(urlsplit(url).path).name


def _batched(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
