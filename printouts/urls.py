from django.urls import path

from printouts import views

app_name = "printouts"
urlpatterns = [
    path("", views.packs, name="packs"),
    path("all.zip", views.packs_zip, name="zip"),
    path("<int:pack_id>.pdf", views.pack_download, name="download"),
    path("<int:pack_id>/changes.pdf", views.pack_changes_download, name="changes"),
    path("render/<int:location_id>/", views.pack_render_now, name="render"),
    path("labels/<int:location_id>.pdf", views.labels_download, name="labels"),
    path("forms/<slug:form>.pdf", views.form_download, name="form"),
    path("transfer/", views.transfer_summary_pick, name="transfer-pick"),
    path(
        "transfer/<int:patient_id>.pdf",
        views.transfer_summary_download,
        name="transfer-summary",
    ),
]
