"""IT's downtime forms. Each action asks for the password again: the
page may be open on a shared screen, and declaring a downtime cuts feeds."""

import datetime as dt

from django import forms
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from downtime.models import Call, CensusEntry, Downtime, DowntimeNumber
from downtime.numbers import LABELS_PER_SHEET, MAX_BLOCK
from downtime.selectors import journal_patient_by_mrn
from patients.models import Appointment, Location, Sex

# What a datetime-local field sends, then what people type.
MOMENTS = ["%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M"]


class Reauthenticated(forms.Form):
    """A form that holds the signed-in user's password, checked on submit
    through the authentication backends, so that wrong guesses count
    towards the sign-in lockout (django-axes) like any other."""

    password = forms.CharField(
        label=_("Your password, to confirm it is you"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, request: HttpRequest, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["password"] = self.fields.pop("password")  # asked last

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        confirmed = authenticate(
            self.request, username=user.get_username(), password=password
        )
        if confirmed is None or confirmed.pk != user.pk:
            raise forms.ValidationError(_("That is not your password."))
        return password


class DeclareForm(Reauthenticated):
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=Downtime.Kind.choices,
        initial=Downtime.Kind.UNPLANNED,
        widget=forms.RadioSelect,
    )
    drill = forms.BooleanField(
        label=_("This is a drill (the EHR keeps working)"), required=False
    )
    reason = forms.CharField(
        label=_("Reason (seen by IT only)"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    systems = forms.CharField(
        label=_("Affected systems, one per line (empty: the whole hospital)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    starts_at = forms.DateTimeField(
        label=_("Starts at (empty: now; later: a planned downtime, scheduled)"),
        required=False,
        input_formats=MOMENTS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENTS[0]),
    )
    expected_end = forms.DateTimeField(
        label=_("Expected end"),
        required=False,
        input_formats=MOMENTS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENTS[0]),
    )
    isolate_feeds = forms.BooleanField(
        label=_(
            "Cut the inbound feeds (cyberattack): nothing from the EHR enters "
            "the mirror until the downtime is closed"
        ),
        required=False,
    )

    def clean_systems(self) -> list[str]:
        lines = self.cleaned_data["systems"].splitlines()
        return list(dict.fromkeys(line.strip() for line in lines if line.strip()))

    def clean_expected_end(self):
        end = self.cleaned_data["expected_end"]
        if end is not None and end <= timezone.now():
            raise forms.ValidationError(_("The expected end must be in the future."))
        return end

    def clean_starts_at(self):
        start = self.cleaned_data["starts_at"]
        if start is not None and start < timezone.now() - dt.timedelta(minutes=1):
            raise forms.ValidationError(
                _(
                    "A downtime cannot be declared in the past: leave the start "
                    "empty to begin now, and say since when in the reason."
                )
            )
        return start

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("starts_at"), data.get("expected_end")
        if start is not None and start > timezone.now():
            if data.get("kind") != Downtime.Kind.PLANNED:
                self.add_error(
                    "starts_at", _("Only a planned downtime can start later.")
                )
            if end is not None and end <= start:
                self.add_error(
                    "expected_end", _("The expected end must come after the start.")
                )
        if data.get("drill") and data.get("isolate_feeds"):
            self.add_error(
                "isolate_feeds",
                _("A drill does not cut the feeds: the EHR is working."),
            )
        return data


class MoveForm(Reauthenticated):
    """Into recovery, or closed: with why."""

    why = forms.CharField(
        label=_("Why now"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class CountTick(forms.CheckboxInput):
    """A checkbox whose value is the number it confirms, as the page showed
    it, and that is never ticked in advance: a count that changed since
    the page was shown asks again."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs, check_test=lambda value: False)

    def format_value(self, value) -> None:
        return None  # the count is in attrs["value"], set by the form

    def value_from_datadict(self, data, files, name):
        return data.get(name)


class CloseForm(MoveForm):
    """Closed, with why; while items of the recovery worklists are not
    done, with a tick that names how many are left."""

    left_accepted = forms.IntegerField(
        required=False, min_value=0, max_value=10**9, widget=CountTick
    )

    def __init__(self, *args, left: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not left:
            del self.fields["left_accepted"]
            return
        field = self.fields["left_accepted"]
        field.widget.attrs["value"] = left
        field.label = ngettext(
            "Close anyway, with %(count)d item of the recovery worklists not done",
            "Close anyway, with %(count)d items of the recovery worklists not done",
            left,
        ) % {"count": left}


def _places():
    return Location.objects.filter(
        kind__in=(Location.Kind.WARD, Location.Kind.CLINIC)
    ).order_by("kind", "name")


class AllocateForm(forms.Form):
    location = forms.ModelChoiceField(
        label=_("For the ward or department"), queryset=Location.objects.none()
    )
    count = forms.IntegerField(
        label=_("How many numbers"),
        min_value=1,
        max_value=MAX_BLOCK,
        initial=2 * LABELS_PER_SHEET,
        help_text=_("A sheet holds %(labels)d labels.") % {"labels": LABELS_PER_SHEET},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = _places()


class NumberUseForm(forms.Form):
    number = forms.CharField(label=_("Downtime number"), max_length=32)
    location = forms.ModelChoiceField(
        label=_("Used on ward or department"), queryset=Location.objects.none()
    )
    used_at = forms.DateTimeField(
        label=_("Used at (from the paper)"),
        input_formats=MOMENTS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENTS[0]),
    )
    used_by = forms.CharField(label=_("Used by (from the paper)"), max_length=150)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = _places()

    def clean_used_at(self):
        used_at = self.cleaned_data["used_at"]
        if used_at > timezone.now():
            raise forms.ValidationError(_("That time has not come yet."))
        return used_at


class PaperItemForm(forms.Form):
    """What the paper brought back: an order, an admission, a transfer."""

    location = forms.ModelChoiceField(
        label=_("Ward or department"), queryset=Location.objects.none()
    )
    patient = forms.CharField(
        label=_("Patient: name and MRN, or downtime number"), max_length=255
    )
    what = forms.CharField(label=_("What to enter in the EHR"), max_length=512)

    def __init__(self, *args, places, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = places


# The census journal: what a ward's clerk or nurse enters during a downtime.
# The forms only read what was typed; downtime.journal's services decide
# whether it may be entered, and say why not.


def _moment_field(label, *, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=MOMENTS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENTS[0]),
    )


def _bed_choices(beds: list[Location], empty) -> list:
    return [("", empty), *((bed.pk, bed.name) for bed in beds)]


class JournalEntryForm(forms.Form):
    """When it happened (now, unless the paper says otherwise) and the
    paper form's reference."""

    occurred_at = _moment_field(_("When it happened"))
    paper_ref = forms.CharField(
        label=_("Paper form reference (optional)"), max_length=64, required=False
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["occurred_at"].initial = timezone.localtime().replace(
            second=0, microsecond=0
        )


class BedPicker(forms.ModelChoiceField):
    """Any bed is accepted, so that one taken meanwhile gets the service's
    message ("Bed 12 is taken"); the free ones are offered."""

    def __init__(self, *, label, free: list[Location], empty) -> None:
        super().__init__(
            label=label,
            queryset=Location.objects.filter(kind=Location.Kind.BED),
            required=False,
        )
        self.choices = _bed_choices(free, empty)


class AdmitNewForm(JournalEntryForm):
    """A new patient, with the next label of the ward's downtime numbers."""

    number = forms.ModelChoiceField(
        label=_("Downtime number (the next label of the sheet)"),
        queryset=DowntimeNumber.objects.none(),
        empty_label=None,
        error_messages={
            "invalid_choice": _(
                "This number is not one of the ward's unused numbers: take "
                "the next label."
            )
        },
    )
    family = forms.CharField(label=_("Family name (or UNKNOWN)"), max_length=128)
    given = forms.CharField(label=_("Given names"), max_length=128, required=False)
    birth_date = forms.DateField(
        label=_("Birth date (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    sex = forms.ChoiceField(
        label=_("Sex (optional)"),
        choices=[("", "-"), *Sex.choices],
        required=False,
    )

    def __init__(self, *args, numbers, free: list[Location], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["number"].queryset = numbers
        self.fields["bed"] = BedPicker(label=_("Bed"), free=free, empty=_("No bed yet"))
        self.order_fields(["number", "family", "given", "birth_date", "sex", "bed"])

    def clean_birth_date(self):
        born = self.cleaned_data["birth_date"]
        if born is not None and born > timezone.localdate():
            raise forms.ValidationError(_("That date is in the future."))
        return born


class AdmitKnownForm(JournalEntryForm):
    """A patient the mirror knows, by MRN (typed: never in a URL)."""

    mrn = forms.CharField(label=_("MRN"), max_length=64)

    def __init__(self, *args, free: list[Location], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bed"] = BedPicker(label=_("Bed"), free=free, empty=_("No bed yet"))
        self.order_fields(["mrn", "bed"])

    def clean(self) -> dict:
        data = super().clean()
        if data.get("mrn"):
            found = journal_patient_by_mrn(mrn=data["mrn"])
            if not found:
                self.add_error(
                    "mrn",
                    _(
                        "No patient with this MRN in the system: check it, or "
                        "admit with a downtime number."
                    ),
                )
            elif len(found) > 1:
                self.add_error(
                    "mrn", _("Several patients have this MRN: ask IT which one.")
                )
            else:
                data["patient"] = found[0]
        data.pop("mrn", None)
        return data


class PatientPicker(forms.ModelChoiceField):
    def __init__(self, *, patients) -> None:
        super().__init__(
            label=_("Patient"),
            queryset=patients,
            empty_label=None,
            error_messages={
                "invalid_choice": _(
                    "This patient is no longer on the ward's census: reload the page."
                )
            },
        )

    def label_from_instance(self, patient) -> str:
        return f"{patient} ({patient.mrn})"


class TransferForm(JournalEntryForm):
    """To another ward (or bed): the free beds of every ward, by ward."""

    def __init__(self, *args, patients, wards, free: dict, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"] = PatientPicker(patients=patients)
        self.fields["ward"] = forms.ModelChoiceField(
            label=_("To ward"), queryset=wards, empty_label=None
        )
        bed = BedPicker(label=_("Bed"), free=[], empty=_("No bed yet"))
        bed.choices = [
            ("", _("No bed yet")),
            *(
                (ward.name, [(b.pk, b.name) for b in beds])
                for ward, beds in free.items()
                if beds
            ),
        ]
        self.fields["bed"] = bed
        self.order_fields(["patient", "ward", "bed"])


class DischargeForm(JournalEntryForm):
    disposition = forms.ChoiceField(
        label=_("Discharged to"),
        choices=CensusEntry.Disposition.choices,
        widget=forms.RadioSelect,
    )
    destination = forms.CharField(
        label=_("Where (the other hospital, an address; optional)"),
        max_length=255,
        required=False,
    )

    def __init__(self, *args, patients, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"] = PatientPicker(patients=patients)
        self.order_fields(["patient", "disposition", "destination"])


class CorrectForm(forms.Form):
    """The entry's right bed or the patient's right name, or that it never
    happened."""

    family = forms.CharField(
        label=_("Right family name"), max_length=128, required=False
    )
    given = forms.CharField(
        label=_("Right given names"), max_length=128, required=False
    )
    void = forms.BooleanField(
        label=_("Entered in error: it never happened"), required=False
    )
    paper_ref = forms.CharField(
        label=_("Paper form reference (optional)"), max_length=64, required=False
    )

    def __init__(self, *args, free: list[Location] | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if free is not None:  # an admission or a transfer: it has a bed
            self.fields["bed"] = BedPicker(
                label=_("Right bed"), free=free, empty=_("Bed unchanged")
            )
            self.order_fields(["bed"])


class PostponementForm(Reauthenticated):
    """What a downtime postpones: IT's, on the downtime page."""

    expected_end = _moment_field(
        _("Expected end (the call lists hold the appointments until then)"),
        required=False,
    )
    clinics = forms.ModelMultipleChoiceField(
        label=_("Postponed clinics (none ticked: every clinic)"),
        queryset=Location.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    types = forms.MultipleChoiceField(
        label=_("Postponed appointment types (none ticked: every type)"),
        choices=[
            *Appointment.Type.choices,
            ("", _("No type given")),
        ],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    postpone_urgent = forms.BooleanField(
        label=_("Postpone urgent appointments too (else they are honoured)"),
        required=False,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinics"].queryset = Location.objects.filter(
            kind=Location.Kind.CLINIC
        ).order_by("name")


class CallForm(forms.Form):
    """What came of one call."""

    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=Call.Outcome.choices, widget=forms.RadioSelect
    )
    new_date = forms.DateField(
        label=_("New date, if given"),
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=255)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("new_date") and data.get("outcome") != Call.Outcome.POSTPONED:
            self.add_error(
                "new_date", _("A new date goes with a postponed appointment only.")
            )
        return data
