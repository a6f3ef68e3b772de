from django.urls import path

from patients import views

app_name = "patients"
urlpatterns = [
    path("", views.home, name="home"),
    path("wards/<int:ward_id>/", views.census, name="census"),
    path("wards/<int:ward_id>/pending-labs/", views.pending_labs, name="pending-labs"),
    path("clinics/<int:clinic_id>/", views.clinic, name="clinic"),
    path("patients/<int:patient_id>/", views.patient, name="patient"),
    path(
        "patients/<int:patient_id>/reports/<int:report_id>/",
        views.report,
        name="report",
    ),
    path("search/", views.search, name="search"),
    path(".well-known/jwks.json", views.fhir_client_jwks, name="fhir-client-jwks"),
]
