"""Report text as the mirror keeps it: plain text, whatever it came in.

Markup is read, never kept: simple HTML becomes its text (paragraphs, line
breaks, list items and table rows on lines of their own; scripts, styles
and images dropped), so nothing a report carries can run or load on a page
or in a PDF. What is kept is escaped like any other text when shown.
"""

import base64
import binascii
import re
from html.parser import HTMLParser

from patients.ingest.values import Invalid

# Longer than this, a report's text is cut with a visible mark: a
# discharge letter is a few thousand characters, and the page shows the
# whole text on request.
MAX_TEXT = 100_000
CUT = "\n[…]"
# Content types taken in as text; any other is listed as an attachment.
PLAIN = ("text/plain",)
HTML = ("text/html", "application/xhtml+xml")
# Elements whose content is never text: code, styles, embedded things.
_SKIPPED = {"script", "style", "head", "title", "template", "object", "iframe", "svg"}
# Elements that stand apart, a blank line around them, and those that only
# start a line of their own.
_PARAGRAPHS = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "dl",
    "pre",
    "blockquote",
    "section",
    "article",
}
_LINES = {"br", "div", "li", "tr", "dt", "dd", "hr"}
# Control characters but tab and line feed; they have no place on paper.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in _LINES:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def from_html(markup: str) -> str:
    """The text of an HTML fragment or page, as a reader sees it."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return tidy("".join(parser.parts), collapse=True)


def tidy(value: str, *, collapse: bool = False) -> str:
    """Lines as sent (``collapse``: runs of spaces made one, as HTML shows
    them), control characters out, at most one blank line in a row, cut at
    ``MAX_TEXT`` with a mark."""
    value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in value.split("\n")]
    if collapse:
        lines = [_SPACES.sub(" ", line).strip() for line in lines]
    value = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")
    if len(value) > MAX_TEXT:
        value = value[: MAX_TEXT - len(CUT)] + CUT
    return value


def media_type(content_type: str) -> tuple[str, str]:
    """("text/html", "utf-8") of "text/html; charset=UTF-8"."""
    kind, _, rest = content_type.partition(";")
    charset = ""
    for parameter in rest.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def readable(content_type: str) -> bool:
    return media_type(content_type)[0] in (*PLAIN, *HTML)


def as_text(content: str, content_type: str) -> str:
    """Text of a given type (plain or HTML) as the mirror keeps it."""
    if media_type(content_type)[0] in HTML:
        return from_html(content)
    return tidy(content)


def attachment_text(attachment: dict, path: str) -> str | None:
    """The text of a FHIR Attachment given inline (``data``) as plain text
    or HTML; None when it is not text, or only a URL."""
    content_type = attachment.get("contentType") or ""
    if not isinstance(content_type, str):
        raise Invalid(f"{path}.contentType is not a string")
    data = attachment.get("data")
    if data is None or not readable(content_type):
        return None
    if not isinstance(data, str):
        raise Invalid(f"{path}.data is not base64 text")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{path}.data is not valid base64") from None
    charset = media_type(content_type)[1] or "utf-8"
    try:
        decoded = raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise Invalid(f"{path}.data is not text in {charset}") from None
    try:
        return as_text(decoded, content_type)
    except AssertionError:  # html.parser's word for a construct it cannot read
        raise Invalid(f"{path}.data is not HTML that can be read") from None
