"""Characters that change how text displays without being seen (bidirectional
controls, zero-width and other invisible characters) are shown as a mark,
``[U+202E]``, on every page and in every PDF: a name must not display
differently from what is stored, nor two different names alike. What is
stored is left as received."""

import re

from django.http import HttpRequest, HttpResponse

INVISIBLE = re.compile(
    "["
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180e"  # Mongolian vowel separator
    "\u200b-\u200f"  # zero-width space, joiners, left-to-right and right-to-left marks
    "\u202a-\u202e"  # embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # isolates
    "\ufeff"  # zero-width no-break space
    "\U000e0000-\U000e007f"  # tags
    "]"
)


def shown(text: str) -> str:
    """``text`` with each invisible character replaced by its mark."""
    return INVISIBLE.sub(lambda found: f"[U+{ord(found[0]):04X}]", text)


class VisibleMarksMiddleware:
    """Marks invisible characters in every HTML page. Templates hold none, so
    any found came from data."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.streaming or not response.get("Content-Type", "").startswith(
            "text/html"
        ):
            return response
        charset = response.charset or "utf-8"
        text = response.content.decode(charset, errors="surrogateescape")
        if INVISIBLE.search(text):
            response.content = shown(text).encode(charset, errors="surrogateescape")
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
