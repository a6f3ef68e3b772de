from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.views.decorators.cache import never_cache

from accounts.models import AccessLog, Role
from accounts.selectors import user_roles
from accounts.services import access_record


def roles_required(*roles: Role, action: str = AccessLog.Action.PAGE) -> Callable:
    """Signed in (else to the sign-in page), and one of ``roles`` (else 403,
    written to the access log as ``action`` denied, with the path: a view's
    URL holds internal ids only)."""

    def decorate(view):
        @login_required
        @never_cache
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs):
            if not set(user_roles(user=request.user)) & set(roles):
                access_record(
                    request=request,
                    action=action,
                    outcome=AccessLog.Outcome.DENIED,
                    target=request.path,
                )
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return checked

    return decorate
