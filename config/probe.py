"""Container health check: `python -m config.probe [URL]`; exit 0 if live.

It asks for the liveness URL under the first of ALLOWED_HOSTS, because in
production Django answers any other Host header with 400.
"""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/health/live/"


def allowed_host(setting: str) -> str:
    """A host name Django accepts under ALLOWED_HOSTS (``.example.org``, ``*``)."""
    first = setting.split(",")[0].strip().lstrip(".")
    return "localhost" if first in ("", "*") else first


def main(url: str) -> int:
    host = allowed_host(os.environ.get("ALLOWED_HOSTS", ""))
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"not live: {error}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL))
