"""Domain errors raised by services. One API handler and one page handler map them to HTTP.

Every error carries a stable ``code`` (for programs) and a translated ``message`` (for people).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """Base of every business-rule error. ``status`` is the HTTP status it maps to."""

    status = 400
    code = "invalid"
    default_message: Any = _("The request could not be completed.")

    def __init__(self, message: Any = None, *, field_errors: dict[str, list[str]] | None = None):
        self.message = message if message is not None else self.default_message
        self.field_errors = field_errors or {}
        super().__init__(str(self.message))


class ValidationFailed(DomainError):
    """Input broke a rule; ``field_errors`` maps field names to messages."""

    code = "validation_error"
    default_message = _("Please correct the errors below.")


class NotFound(DomainError):
    """The record does not exist, or the user may not see it (the two are never distinguished)."""

    status = 404
    code = "not_found"
    default_message = _("The record was not found.")


class PermissionDenied(DomainError):
    """The user may see the record (or module) but not perform this action on it."""

    status = 403
    code = "permission_denied"
    default_message = _("You do not have permission to do this.")


class Conflict(DomainError):
    """The record changed since it was read (stale version) or a uniqueness rule was hit."""

    status = 409
    code = "conflict"
    default_message = _("The record was changed by someone else. Reload it and try again.")


class InvalidTransition(DomainError):
    """A status change that the record's life cycle does not allow."""

    status = 409
    code = "invalid_transition"
    default_message = _("This change is not allowed in the record's current state.")
