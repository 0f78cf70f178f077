from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class OrgConfig(AppConfig):
    name = "crm.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from crm.core.audit import register_verbs
        from crm.core.fieldaccess import connect_signals

        connect_signals()

        register_verbs(
            {
                "org.created": _("Organisation created"),
                "org.updated": _("Organisation changed"),
                "department.created": _("Department created"),
                "department.updated": _("Department changed"),
                "department.moved": _("Department moved"),
                "role.created": _("Role created"),
                "role.saved": _("Role changed"),
                "role.deleted": _("Role deleted"),
                "token.created": _("API token created"),
                "token.revoked": _("API token revoked"),
                "user.created": _("User created"),
                "user.updated": _("User changed"),
                "user.deactivated": _("User deactivated"),
                "user.reactivated": _("User reactivated"),
                "user.profile_updated": _("Profile changed"),
                "user.password_set": _("Password set"),
                "user.password_changed": pgettext_lazy("event", "Password changed"),
                "user.password_reset": _("Password reset"),
                "user.invitation_accepted": _("Invitation accepted"),
                "user.2fa_enabled": _("Two-factor authentication turned on"),
                "user.2fa_disabled": _("Two-factor authentication turned off"),
            }
        )
