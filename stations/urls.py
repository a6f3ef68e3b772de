from django.urls import path

from stations import views

app_name = "stations"
urlpatterns = [
    path("", views.stations, name="list"),
    path("<int:station_id>/", views.detail, name="detail"),
    path("<int:station_id>/code/", views.new_code, name="code"),
    path("<int:station_id>/revoke/", views.revoke, name="revoke"),
]
