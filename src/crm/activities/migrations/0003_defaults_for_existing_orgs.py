"""Organisations created before this module get its defaults: reminder rules and the product
list (new organisations get them from the org initializers)."""

from django.conf import settings
from django.db import migrations
from django.utils import translation


def install(apps, schema_editor):
    from crm.activities.services import DEFAULT_RULES
    from crm.pipeline.dictionaries import DEFAULTS

    Organization = apps.get_model("org", "Organization")
    ReminderRule = apps.get_model("activities", "ReminderRule")
    DictionaryItem = apps.get_model("pipeline", "DictionaryItem")
    with translation.override(settings.LANGUAGE_CODE):
        for org in Organization.objects.all():
            kinds = set(ReminderRule.objects.filter(org_id=org.pk).values_list("kind", flat=True))
            ReminderRule.objects.bulk_create(
                ReminderRule(
                    org_id=org.pk, kind=kind, name=str(name), offsets=offsets, notify_manager=mgr
                )
                for kind, name, offsets, mgr in DEFAULT_RULES
                if kind not in kinds
            )
            if not DictionaryItem.objects.filter(org_id=org.pk, kind="product").exists():
                DictionaryItem.objects.bulk_create(
                    DictionaryItem(
                        org_id=org.pk, kind="product", value=value, label=str(label), sort_order=i
                    )
                    for i, (value, label) in enumerate(DEFAULTS["product"])
                )


class Migration(migrations.Migration):
    dependencies = [("activities", "0002_initial"), ("org", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
