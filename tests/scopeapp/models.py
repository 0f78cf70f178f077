"""A minimal owned, shareable business record, installed only in the test settings, so the
scoped query layer and the contract suites are proven generically."""

from typing import ClassVar

from django.conf import settings
from django.db import models

from crm.core.models import ScopedModel
from crm.core.scoping import ScopeFields


class Memo(ScopedModel):
    title = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    collaborators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", shared="collaborators")
    scope_module: ClassVar[str] = "customers"

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title


class MemoLine(ScopedModel):
    memo = models.ForeignKey(Memo, on_delete=models.CASCADE, related_name="lines")
    text = models.CharField(max_length=100)

    scope: ClassVar[ScopeFields] = ScopeFields(via="memo")
    scope_module: ClassVar[str] = "customers"
