from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from accounts.models import Role, WardMembership
from patients.models import Location


def user_roles(*, user: AbstractBaseUser) -> list[Role]:
    """The user's roles, in the order of Role; none for an anonymous user."""
    if not user.is_authenticated:
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if role.value in names]


def user_locations(*, user: AbstractBaseUser) -> QuerySet[Location]:
    """The wards and clinics whose patients the user may see: every one for
    IT, else those of the user's memberships. Every view and download of
    patient data goes through this one selector."""
    places = Location.objects.filter(
        kind__in=(Location.Kind.WARD, Location.Kind.CLINIC)
    )
    if not user.is_authenticated or not user.is_active:
        return places.none()
    if Role.IT in user_roles(user=user):
        return places
    return places.filter(
        pk__in=WardMembership.objects.filter(user=user).values("location")
    )
