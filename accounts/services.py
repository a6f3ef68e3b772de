import dataclasses
import secrets
from typing import NoReturn

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.http import Http404

from accounts.models import AccessLog, Role, WardMembership
from accounts.network import client_address
from accounts.selectors import user_roles
from patients.models import Location

# No 0/O, 1/l/I: these passwords are read off a console and typed by hand.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105

DEMO_ACCOUNTS = {Role.NURSE: "nurse", Role.CLERK: "clerk", Role.IT: "it"}


@dataclasses.dataclass(frozen=True)
class Credential:
    username: str
    password: str
    role: Role


def _readable_password() -> str:
    groups = (
        "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(4)
    )
    return "-".join(groups)


@transaction.atomic
def demo_accounts_ensure(*, reset_passwords: bool = False) -> list[Credential]:
    """Create one demo account per role; return the passwords that were set.

    An existing account keeps its password unless ``reset_passwords``, so the
    credentials are shown once, when they are made.
    """
    credentials = []
    for role, username in DEMO_ACCOUNTS.items():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": "Demo", "last_name": str(role.label)},
        )
        if role is Role.IT:
            user.is_staff = user.is_superuser = True
        if created or reset_passwords:
            password = _readable_password()
            user.set_password(password)
            credentials.append(Credential(username, password, role))
        user.save()
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        if role is not Role.IT:  # IT sees every ward anyway
            _every_ward(user)
    return credentials


def _every_ward(user: User) -> None:
    """The demo nurse and clerk work on every ward and clinic of the demo."""
    places = Location.objects.filter(
        kind__in=(Location.Kind.WARD, Location.Kind.CLINIC)
    )
    WardMembership.objects.bulk_create(
        [WardMembership(user=user, location=place) for place in places],
        ignore_conflicts=True,
    )


def access_record(
    *,
    request,
    action: str,
    outcome: str,
    target: str = "",
    locations: list[int] | None = None,
    patients: list[int] | None = None,
) -> AccessLog:
    """Write one access log row. Call it inside the transaction that reads the
    data, before any of it is sent: no row, no data."""
    user = request.user if request.user.is_authenticated else None
    return AccessLog.objects.create(
        user=user,
        username=user.get_username() if user else "",
        roles=",".join(role.value for role in user_roles(user=request.user)),
        action=action,
        target=target[:128],
        locations=locations or [],
        patients=patients or [],
        address=client_address(request),
        outcome=outcome,
    )


def access_denied(*, request, action: str, target: str = "") -> NoReturn:
    """Log a refused look at patient data, then answer 404: another ward's
    patient or pack looks exactly like one that does not exist. Call it
    outside the reading transaction, so that the row stays."""
    access_record(
        request=request, action=action, outcome=AccessLog.Outcome.DENIED, target=target
    )
    raise Http404
