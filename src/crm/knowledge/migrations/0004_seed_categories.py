"""Seed every existing organisation with the built-in categories (named in the site's language)
and point each article at the category its old ``category`` value named."""

from django.conf import settings
from django.db import migrations
from django.utils import translation

#: the built-in categories, in their list order (crm.knowledge.models.ArticleCategory)
BUILT_IN = ["playbook", "faq", "competitor", "purchase_process", "case_study", "other"]


def _names() -> dict[str, str]:
    from crm.knowledge.models import ArticleCategory

    with translation.override(settings.LANGUAGE_CODE):
        return {value: str(label) for value, label in ArticleCategory.choices}


def forwards(apps, schema_editor):
    Organization = apps.get_model("org", "Organization")
    Category = apps.get_model("knowledge", "Category")
    Article = apps.get_model("knowledge", "Article")
    names = _names()
    for org_id in Organization.objects.values_list("pk", flat=True):
        by_key = {}
        for order, key in enumerate(BUILT_IN, start=1):
            row, _created = Category.objects.get_or_create(
                org_id=org_id, key=key, defaults={"name": names[key], "sort_order": order * 10}
            )
            by_key[key] = row
        for key, row in by_key.items():
            Article.objects.filter(org_id=org_id, category=key).update(category_ref=row)
        Article.objects.filter(org_id=org_id, category_ref__isnull=True).update(
            category_ref=by_key["other"]
        )


def backwards(apps, schema_editor):
    Article = apps.get_model("knowledge", "Article")
    Category = apps.get_model("knowledge", "Category")
    for row in Category.objects.exclude(key=""):
        Article.objects.filter(category_ref=row).update(category=row.key)
    Article.objects.filter(category_ref__key="").update(category="other")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0003_categories")]

    operations = [migrations.RunPython(forwards, backwards)]
