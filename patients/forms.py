import datetime as dt

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from patients.ingest.values import search_key
from patients.models import Encounter
from patients.summary import journal_name

DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d")


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Name, MRN or birth date (dd/mm/yyyy)"),
        min_length=2,
        max_length=100,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )

    def matches(self, stays: QuerySet[Encounter]) -> tuple[str, QuerySet[Encounter]]:
        """What kind of term this is ("birth date", "MRN" or "name"), and the
        census encounters it finds among ``stays``."""
        term = self.cleaned_data["q"]
        born = _date(term)
        if born:
            return "birth date", stays.filter(patient__birth_date=born)
        by_mrn = stays.filter(patient__mrn__iexact=term)
        if by_mrn.exists():
            return "MRN", by_mrn
        words = search_key(term).split()
        condition = Q()
        for word in words:
            condition &= Q(patient__name_search__contains=word)
        return "name", stays.filter(condition | Q(pk__in=_corrected(stays, words)))


def _corrected(stays: QuerySet[Encounter], words: list[str]) -> list[int]:
    """The stays whose name the census journal corrected to one matching
    every word: the mirror keeps the EHR's name, the census shows the
    corrected one. Few stays have marks; their names are matched here."""
    found = []
    for pk, marks, family, given in stays.exclude(marks=[]).values_list(
        "pk", "marks", "patient__family", "patient__given"
    ):
        family, given = journal_name(marks, family, given)
        key = search_key(given, family)
        if all(word in key for word in words):
            found.append(pk)
    return found


def _date(text: str) -> dt.date | None:
    for pattern in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date()  # noqa: DTZ007
        except ValueError:
            continue
    return None
