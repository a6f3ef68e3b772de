"""Which computer sent a request: what the sign-in lockout, the access log and
the stations' limits count by."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The address of the computer that sent ``request``.

    Behind ``TRUSTED_PROXIES`` proxies, each of which appends the address it
    was reached from to X-Forwarded-For (nginx's
    ``$proxy_add_x_forwarded_for``), that is the ``TRUSTED_PROXIES``-th
    address from the right: anything further left was written by the
    client itself, and is not believed. A request that does not carry that
    many addresses did not come through all the proxies, and counts as its
    peer's; so does one whose address cannot be read. With no trusted
    proxies (the default) the header is ignored: it is the peer's address.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXIES
    if not count:
        return peer
    hops = [
        hop.strip()
        for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if hop.strip()
    ]
    if len(hops) < count:
        return peer
    return _address(hops[-count]) or peer


def _address(hop: str) -> str | None:
    """An address as a proxy writes it ("192.0.2.7", "192.0.2.7:51234",
    "2001:db8::7", "[2001:db8::7]:51234"), without its port."""
    if hop.startswith("["):
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None
