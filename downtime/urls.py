from django.urls import path

from downtime import call_views, journal_views, views

app_name = "downtime"
urlpatterns = [
    path("", views.page, name="page"),
    path("declare/", views.declare, name="declare"),
    path("readiness/", views.readiness_page, name="readiness"),
    path("numbers/", views.numbers, name="numbers"),
    path(
        "numbers/<int:block_id>/labels/",
        views.number_labels_download,
        name="number-labels",
    ),
    path("readiness.json", views.readiness_json, name="readiness-json"),
    path("<int:downtime_id>/recover/", views.recover, name="recover"),
    path("<int:downtime_id>/close/", views.close, name="close"),
    path("<int:downtime_id>/cancel/", views.cancel, name="cancel"),
    path("<int:downtime_id>/progress/", views.progress, name="progress"),
    path(
        "<int:downtime_id>/report.<str:form>",
        views.report,
        name="report",
    ),
    path("<int:downtime_id>/postponement/", views.postponement, name="postponement"),
    path("<int:downtime_id>/calls/", call_views.call_list, name="calls"),
    path("<int:downtime_id>/calls.pdf", call_views.call_list_pdf, name="calls-pdf"),
    path(
        "<int:downtime_id>/calls/<int:appointment_id>/",
        call_views.call_add,
        name="call-add",
    ),
    path("<int:downtime_id>/worklists/", views.worklists, name="worklists"),
    path("<int:downtime_id>/worklists/<str:name>/", views.worklist, name="worklist"),
    path("journal/<int:ward_id>/", journal_views.journal, name="journal"),
    path(
        "journal/<int:ward_id>/downtimes/<int:downtime_id>/",
        journal_views.journal,
        name="journal-of",
    ),
    path("journal/<int:ward_id>/admit/", journal_views.admit, name="journal-admit"),
    path(
        "journal/<int:ward_id>/transfer/",
        journal_views.transfer,
        name="journal-transfer",
    ),
    path(
        "journal/<int:ward_id>/discharge/",
        journal_views.discharge,
        name="journal-discharge",
    ),
    path(
        "journal/<int:ward_id>/entries/<int:entry_id>/correct/",
        journal_views.correct,
        name="journal-correct",
    ),
    path(
        "worklist-items/<int:item_id>/done/", views.worklist_done, name="worklist-done"
    ),
]
