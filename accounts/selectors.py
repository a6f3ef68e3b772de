from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from accounts.models import Role, WardMembership
from patients.models import Encounter, Location


def user_roles(*, user: AbstractBaseUser) -> list[Role]:
    """The user's roles, in the order of Role; none for an anonymous user."""
    if not user.is_authenticated:
        return []
    if not hasattr(user, "_roles"):  # asked several times in one request
        names = set(user.groups.values_list("name", flat=True))
        user._roles = [role for role in Role if role.value in names]
    return list(user._roles)


def user_name(*, user: AbstractBaseUser) -> str:
    """A person as paper names them ("Printed by ..."): full name, else the
    user name."""
    return user.get_full_name() or user.get_username()


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


def user_stays(*, user: AbstractBaseUser) -> QuerySet[Encounter]:
    """The census encounters (patients in a bed now) of the user's wards: the
    patients the user may see. Every patient page, search and list starts
    from this selector; anyone else's patient answers 404, exactly like one
    that does not exist."""
    return Encounter.objects.on_census().filter(
        ward__in=user_locations(user=user).filter(kind=Location.Kind.WARD)
    )


def user_stay(*, user: AbstractBaseUser, patient_id: int) -> Encounter | None:
    """The patient's census stay if the user may see them, with its ward."""
    return (
        user_stays(user=user)
        .filter(patient_id=patient_id)
        .select_related("ward")
        .order_by("pk")
        .first()
    )
