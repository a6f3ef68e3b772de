from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The roles of PRODUCT.md; each is a Django group named by its value."""

    NURSE = "nurse", _("Nurse")
    CLERK = "clerk", _("Ward clerk")
    IT = "it", _("IT administrator")
