"""The site's URLs and one that fails, to see the 500 page as a visitor does."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler403, handler404, handler500, urlpatterns


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [path("fail/", fail), *urlpatterns]
__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]
