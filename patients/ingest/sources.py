"""Where FHIR resources come from: bundle files, Bulk Data NDJSON folders and
their manifests, or resources handed over in memory (the demo generator).

A source never decides anything about the mirror: it turns input into
``Item``s (one per resource, or per piece of input that could not be read),
in an order that lets references resolve: organisations and locations before
clinicians, patients before what points to them.

Input is read strictly: UTF-8 (a byte order mark allowed), JSON no deeper
than ``MAX_DEPTH``. What cannot be read becomes an item with the reason; one
bad file, line or entry never stops the others.
"""

import codecs
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path, PurePosixPath
from typing import Any
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
    "MedicationAdministration",
    "Observation",
    "ServiceRequest",
    "DiagnosticReport",
    "DocumentReference",
    "Schedule",
    "Slot",
    "Appointment",
)
_RANK = {name: rank for rank, name in enumerate(ORDER)}
_NDJSON_NAME = re.compile(r"^([A-Z][A-Za-z]+)(?:[._-]\w+)*\.ndjson$")
_DELETED = re.compile(r"^([A-Z][A-Za-z]{0,63})/([A-Za-z0-9\-.]{1,64})$")

# JSON nested deeper than this is refused before anything recurses on it
# (the parser, the content hash, the mappers); FHIR resources nest about a
# dozen levels.
MAX_DEPTH = 100
# Only brackets, as +1 (opening) and -1 (closing) signed bytes.
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
# What may be, in JSON text, a NUL character, a lone surrogate (raw or
# escaped), NaN, Infinity or a number too large for a float (a three-digit
# exponent, 309 digits): a hit only means that the resource is walked. Words
# and single patterns (``_suspect``) rather than one pattern of alternatives, which took
# several times as long to search (bench/mirror_load.py's re-import).
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_LARGE_NUMBER = re.compile(r"[0-9](?:[eE]\+?[0-9]{3}|[0-9]{308})")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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
    # The type the input declares for it (an NDJSON file's name), which
    # still counts when the item itself could not be read.
    declared_type: str = ""

    @property
    def resource_type(self) -> str:
        kind = self.resource.get("resourceType") if self.resource else None
        return kind if isinstance(kind, str) else ""


class Unreadable(ValueError):
    """Input that cannot be read as JSON the mirror can take; says why."""


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
            try:
                with path.open("rb") as lines:
                    in_files += sum(1 for line in lines if line.strip())
            except OSError:
                in_files += 1  # reading it will say what is wrong
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
                    yield from _batched(_ndjson_items(path, kind), size)

    def _locations(self, size: int) -> Iterator[list[Item]]:
        """All locations at once, parents first, so that part-of resolves."""
        group = list(self.items.get("Location", []))
        for kind, path in self.files:
            if kind == "Location":
                group.extend(_ndjson_items(path, kind))

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
            _guarded(_read_directory, path, load)
        elif path.suffix == ".ndjson":
            _add_ndjson(path, load)
        else:
            _guarded(_read_json_file, path, load)
    return load


def from_resources(resources: Iterable[dict], *, origin: str) -> Load:
    """Resources built in memory, read exactly as if they came from a file."""
    load = Load()
    for number, resource in enumerate(resources, 1):
        raw = canonical_json(resource)
        load.add(Item(f"{origin} #{number}", raw, resource, canonical=True))
        load.covered.add(resource["resourceType"])
    return load


def read_json(data: bytes) -> tuple[str, Any]:
    """The text of JSON input and its value; raises Unreadable saying why not.

    Strict UTF-8 (a byte order mark allowed), no raw NUL byte, no deeper
    than ``MAX_DEPTH``. What the value holds is checked later, per resource
    (``content_problem``).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        raise Unreadable(_not_utf8(data, error.start + bom)) from None
    if "\x00" in text:
        raise Unreadable(
            f"holds a NUL byte (first at offset {data.index(0)}), which JSON "
            "text cannot hold"
        )
    if _nests_too_deep(data):
        raise Unreadable(_TOO_DEEP)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as error:
        raise Unreadable(
            f"not valid JSON ({error.msg.removesuffix(' at')} at {error.pos})"
        ) from None
    except RecursionError:
        raise Unreadable(_TOO_DEEP) from None
    except ValueError:
        # Python refuses integers of more than 4300 digits.
        raise Unreadable("holds a number with too many digits to read") from None


def content_problem(item: Item) -> str:
    """Why the mirror cannot hold what a readable resource says, or "".

    A U+0000 character, a lone surrogate (text cut in the middle of a
    character), NaN or Infinity (or a number too large for one). The text
    is searched first, so that a resource is walked only when it may hold
    one of them.
    """
    if item.resource is None or not _suspect(item.raw):
        return ""
    return _first_problem(item.resource)


def _suspect(raw: str) -> bool:
    return bool(
        "\x00" in raw
        or "\\u0000" in raw
        or "NaN" in raw
        or "Infinity" in raw
        or ("\\u" in raw and _ESCAPED_SURROGATE.search(raw))
        or (not raw.isascii() and _LONE_SURROGATE.search(raw))
        or _LARGE_NUMBER.search(raw)
    )


def storable(text: str) -> str:
    """Text PostgreSQL can store: a NUL character and lone surrogates
    written as visible escapes (``\\u0000``, ``\\ud800``), the rest as is."""
    text = text.replace("\x00", "\\u0000")
    if not text.isascii() and _LONE_SURROGATE.search(text):
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def storable_value(value: Any) -> Any:
    """JSON data with every text in it (keys too) made ``storable``."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_value(v) for v in value]
    return value


def _not_utf8(data: bytes, offset: int) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "not UTF-8 (it starts with a UTF-16 byte order mark); save it as UTF-8"
    return f"not UTF-8 (first bad byte at offset {offset})"


def _nests_too_deep(data: bytes) -> bool:
    """Whether objects and arrays nest deeper than ``MAX_DEPTH`` in JSON text."""
    if _deepest(data) <= MAX_DEPTH:
        return False
    # Brackets inside strings were counted too: measure again without them.
    return _deepest(_JSON_STRING.sub(b"", data)) > MAX_DEPTH


def _deepest(data: bytes) -> int:
    """How deep the brackets in ``data`` nest; their number when that is
    no more than ``MAX_DEPTH`` (the cheap answer for a small resource)."""
    steps = data.translate(_BRACKET_STEPS, _NOT_BRACKETS)
    if len(steps) <= MAX_DEPTH:
        return len(steps)
    return max(accumulate(memoryview(steps).cast("b")))


def _first_problem(resource: dict) -> str:
    """The first text or number in ``resource`` the mirror cannot hold."""
    kind = resource.get("resourceType")
    root = kind if isinstance(kind, str) and kind.isidentifier() else "resource"
    stack: list[tuple[str, Any]] = [(root, resource)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, child in reversed(value.items()):
                stack.append((f"{path}.{key}", child))
                if problem := _text_problem(key):
                    return f"{storable(path)} has a key that {problem}"
        elif isinstance(value, list):
            listed = [(f"{path}[{n}]", child) for n, child in enumerate(value)]
            stack.extend(reversed(listed))
        elif problem := _value_problem(value):
            return f"{storable(path)} {problem}"
    return ""


def _value_problem(value: Any) -> str:
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, int | float):
        return _number_problem(value)
    return ""


def _text_problem(text: str) -> str:
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which the mirror cannot store"
    if found := _LONE_SURROGATE.search(text):
        escaped = found.group().encode("utf-8", "backslashreplace").decode()
        return (
            f"holds a lone surrogate ({escaped}), which is not a character: the "
            "text was cut or mis-encoded at the source"
        )
    return ""


def _number_problem(number: int | float) -> str:
    if isinstance(number, int):  # beyond what a float holds
        return "is a number too large to hold" if number.bit_length() > 1023 else ""
    if math.isnan(number):
        return "is NaN, which is not a number JSON allows"
    if math.isinf(number):
        sign = "-" if number < 0 else ""
        return (
            f"is {sign}Infinity (or a number too large to hold), which JSON does "
            "not allow"
        )
    return ""


def _guarded(read: Callable[[Path, Load], None], path: Path, load: Load) -> None:
    """Read one file or folder; anything that stops it becomes one item."""
    try:
        read(path, load)
    except Exception as error:
        load.add(Item(storable(path.name), "", error=_could_not_read(error)))


def _could_not_read(error: Exception) -> str:
    why = error.strerror if isinstance(error, OSError) else None
    return f"could not be read ({why or type(error).__name__})"


def _read_directory(folder: Path, load: Load) -> None:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for path in files:
        if path.suffix == ".json" and _manifest(path) is not None:
            _guarded(_read_manifest, path, load)
            return
    for path in files:
        if path.suffix == ".ndjson":
            _add_ndjson(path, load)
        elif path.suffix == ".json":
            _guarded(_read_json_file, path, load)
        else:
            load.skipped.append(f"{storable(path.name)}: not a .json or .ndjson file")


def _add_ndjson(path: Path, load: Load) -> None:
    match = _NDJSON_NAME.match(path.name)
    if not match:
        load.skipped.append(
            f"{storable(path.name)}: not a Bulk Data resource file (<Type>.<n>.ndjson)"
        )
        return
    load.files.append((match.group(1), path))
    load.covered.add(match.group(1))


def _ndjson_items(path: Path, declared_type: str = "") -> Iterator[Item]:
    """An item per line that is not blank; one that cannot be read, too.

    Each line is decoded on its own, so a line that is not UTF-8 is one
    item held back, and the lines after it are read.
    """
    name = storable(path.name)
    try:
        with path.open("rb") as file:
            for number, line in _numbered_lines(file):
                if line.strip():
                    where = f"{name} line {number}"
                    yield _parse(line.strip(), where, declared_type)
    except Exception as error:
        yield Item(name, "", error=_could_not_read(error), declared_type=declared_type)


def _numbered_lines(file: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Lines ended by LF, CR LF or CR alone (JSON text never holds a raw
    CR), numbered from 1 as an editor does, without the byte order mark."""
    number = 0
    for physical in file:
        if number == 0:
            physical = physical.removeprefix(codecs.BOM_UTF8)
        for line in physical.rstrip(b"\r\n").split(b"\r"):
            number += 1
            yield number, line


def _parse(data: bytes, origin: str, declared_type: str = "") -> Item:
    try:
        text, resource = read_json(data)
    except Unreadable as error:
        raw = data.decode("utf-8", "backslashreplace")
        return Item(origin, raw, error=str(error), declared_type=declared_type)
    if not isinstance(resource, dict):
        error = "not a JSON object"
        return Item(origin, text, error=error, declared_type=declared_type)
    return Item(origin, text, resource, declared_type=declared_type)


def _read_json_file(path: Path, load: Load) -> None:
    item = _parse(path.read_bytes(), storable(path.name))
    resource = item.resource
    if resource is None or resource.get("resourceType") != "Bundle":
        load.add(item)
        if item.resource_type:
            load.covered.add(item.resource_type)
        return
    _read_bundle(resource, item.origin, load)


def _read_bundle(bundle: dict, origin: str, load: Load) -> None:
    kind = bundle.get("type")
    entries = bundle.get("entry") or []
    if not isinstance(kind, str) or kind not in {
        "transaction",
        "batch",
        "collection",
        "searchset",
        "history",
    }:
        raw = json.dumps(bundle, ensure_ascii=False)
        load.add(Item(origin, raw, error=f"a {kind!s} Bundle cannot be imported"))
        return
    if not isinstance(entries, list):
        raw = json.dumps(bundle, ensure_ascii=False)
        load.add(Item(origin, raw, error="Bundle.entry is not a list"))
        return
    urns = _urn_targets(entries)
    for number, entry in enumerate(entries, 1):
        where = f"{origin} entry {number}"
        _read_entry(entry, where, urns, load)


def _urn_targets(entries: list) -> dict[str, str]:
    """urn: full URLs of the bundle's entries, as Type/id."""
    urns = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        full_url = entry.get("fullUrl")
        if not isinstance(full_url, str) or not full_url.startswith("urn:"):
            continue
        resource = entry["resource"]
        target = (
            f"{resource.get('resourceType')}/"
            f"{resource.get('id') or full_url.rsplit(':', 1)[-1]}"
        )
        if storable(target) == target:  # else its resource is held back anyway
            urns[full_url] = target
    return urns


def _read_entry(entry, where: str, urns: Mapping[str, str], load: Load) -> None:
    raw = json.dumps(entry, ensure_ascii=False)
    request = entry.get("request") if isinstance(entry, dict) else None
    if isinstance(request, dict) and request.get("method") == "DELETE":
        target = _DELETED.match(str(request.get("url", "")))
        if target:
            load.deleted.append(Ref(target.group(1), id=target.group(2)))
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


def _manifest(path: Path) -> dict | None:
    """A Bulk Data export manifest's content, or None for any other file."""
    try:
        data = path.read_bytes()
        if b'"output"' not in data or b'"request"' not in data:
            return None  # a bundle: not parsed twice
        _, content = read_json(data)
    except (OSError, Unreadable):
        return None  # read as a bundle, it will say what is wrong
    if isinstance(content, dict) and "output" in content and "request" in content:
        return content
    return None


def _read_manifest(path: Path, load: Load) -> None:
    """A Bulk Data export manifest: its output files, then its deletions."""
    manifest = _manifest(path) or {}
    for output in _objects(manifest.get("output")):
        _add_ndjson(_local(path, output.get("url")), load)
    for deleted in _objects(manifest.get("deleted")):
        for item in _ndjson_items(_local(path, deleted.get("url"))):
            if item.resource is None:
                load.add(item)
                continue
            _read_bundle(item.resource, item.origin, load)


def _objects(value: Any) -> list[dict]:
    """A list of JSON objects where one is due; anything else counts as none."""
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]


def _local(manifest: Path, url: Any) -> Path:
    """Export files are downloaded beside the manifest under their own names."""
    name = PurePosixPath(urlsplit(url if isinstance(url, str) else "").path).name
    return manifest.parent / name


def _batched(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
