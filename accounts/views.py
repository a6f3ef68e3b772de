from django.conf import settings
from django.contrib.auth import views as auth_views
from django.utils.translation import gettext as _


class SignInView(auth_views.LoginView):
    """The sign-in page; after a session was cut, it says why."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict:
        ended = {
            "idle": _("You were signed out after %(minutes)d minutes without activity.")
            % {"minutes": settings.SESSION_IDLE_MINUTES},
            "lifetime": _(
                "You were signed out: a session lasts at most %(hours)d hours."
            )
            % {"hours": settings.SESSION_MAX_HOURS},
        }.get(self.request.GET.get("ended", ""), "")
        return super().get_context_data(**kwargs) | {"ended": ended}
