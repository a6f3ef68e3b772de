from django.urls import path

from stations import api

app_name = "station_api"
urlpatterns = [
    path("enrol", api.enrol, name="enrol"),
    path("manifest", api.manifest, name="manifest"),
    path("files/<str:item>", api.file, name="file"),
    path("heartbeat", api.heartbeat, name="heartbeat"),
]
