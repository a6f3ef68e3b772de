"""IT's station forms; each asks for the password again, as the downtime
page does: a code or a revocation changes who may hold patient data."""

from django import forms
from django.utils.translation import gettext_lazy as _

from downtime.forms import Reauthenticated
from patients.models import Location
from stations.models import Station


class StationForm(Reauthenticated):
    name = forms.CharField(
        label=_("Name (say where it stands: 'Ward 3A, nurses' station')"),
        max_length=100,
    )
    locations = forms.ModelMultipleChoiceField(
        label=_("Wards and clinics it keeps packs of"),
        queryset=Location.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    notes = forms.CharField(
        label=_("Notes (its printer, UPS, who looks after it)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["locations"].queryset = Location.objects.filter(
            kind__in=(Location.Kind.WARD, Location.Kind.CLINIC)
        ).order_by("kind", "name")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Station.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(_("A station of this name exists already."))
        return name


class ConfirmForm(Reauthenticated):
    """Only the password: for a new code or a revocation."""
