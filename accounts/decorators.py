from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.views.decorators.cache import never_cache

from accounts.models import Role
from accounts.selectors import user_roles


def roles_required(*roles: Role) -> Callable:
    """Signed in (else to the sign-in page), and one of ``roles`` (else 403)."""

    def decorate(view):
        @login_required
        @never_cache
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs):
            if not set(user_roles(user=request.user)) & set(roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return checked

    return decorate
