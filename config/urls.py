from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from config import health

admin.site.site_header = _("Downtime contingency administration")
admin.site.site_title = _("Downtime contingency")
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", include("patients.urls")),
    path("accounts/", include("accounts.urls")),
    path("packs/", include("printouts.urls")),
    path("downtime/", include("downtime.urls")),
    path("stations/", include("stations.urls")),
    path("station-api/v1/", include("stations.api_urls")),
    path("admin/", admin.site.urls),
    path("health/live/", health.live, name="health-live"),
    path("health/ready/", health.ReadinessView.as_view(), name="health-ready"),
]
