"""What the mirror tells the rest of the project about its patients."""

from django.dispatch import Signal

# Two patient records were one person (HL7 A40): ``merged``'s rows moved to
# ``survivor`` and ``merged`` is about to be deleted. Sent inside the
# transaction of the merge, so that what points at ``merged`` moves with it.
patient_merged = Signal()
