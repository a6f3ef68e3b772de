from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.selectors import user_roles
from patients.selectors import feed_states, ward_counts


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """The start page; a signed-out visitor gets the sign-in form right here."""
    if not request.user.is_authenticated:
        form = AuthenticationForm(request)
        return render(request, "accounts/login.html", {"form": form})
    return render(
        request,
        "patients/home.html",
        {
            "roles": user_roles(user=request.user),
            "wards": ward_counts(),
            "feeds": feed_states(),
        },
    )
