from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Role


def user_roles(*, user: AbstractBaseUser) -> list[Role]:
    """The user's roles, in the order of Role; none for an anonymous user."""
    if not user.is_authenticated:
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if role.value in names]
