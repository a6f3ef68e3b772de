import pytest
from django.contrib.auth.models import User

from patients.models import Location
from printouts.models import Pack
from printouts.services import pack_render, pack_request
from stations.models import Station
from stations.services import station_create, station_enrol
from tests.printouts.conftest import pack_dir, small_ward  # noqa: F401 - fixtures
from tests.printouts.test_views import other_ward  # noqa: F401 - fixture


def published(place: Location) -> Pack:
    """A ward pack rendered and published (signed) now."""
    return pack_render(pack_id=pack_request(location=place, reason="command").pk)


@pytest.fixture
def it_user(db) -> User:
    return User.objects.create_user("it-admin", password="pw-long-enough-1")


def enrolled(name: str, places: list[Location], user: User) -> tuple[Station, str]:
    """A station made by IT and enrolled with its code; its token."""
    _station, code = station_create(name=name, locations=places, notes="", user=user)
    return station_enrol(code=code, address="127.0.0.1", version="test")


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
