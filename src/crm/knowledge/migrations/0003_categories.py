"""Article categories defined by the organisation (R9.4): the ``Category`` table and a
temporary link from articles to it (filled by 0004, made the ``category`` field by 0005)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0002_search_indexes"),
        ("org", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Category",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                ("name", models.CharField(max_length=60, verbose_name="name")),
                ("key", models.CharField(blank=True, editable=False, max_length=30, verbose_name="built-in key")),
                ("sort_order", models.PositiveIntegerField(default=0, verbose_name="sort order")),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                ("org", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="org.organization", verbose_name="organisation")),
            ],
            options={
                "verbose_name": "article category",
                "verbose_name_plural": "article categories",
                "ordering": ["sort_order", "pk"],
                "indexes": [models.Index(fields=["org", "is_active", "sort_order"], name="kb_category_order_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=["org", "name"], name="kb_category_unique_name"),
                    models.UniqueConstraint(condition=models.Q(("key", ""), _negated=True), fields=["org", "key"], name="kb_category_unique_key"),
                ],
            },
        ),
        migrations.AddField(
            model_name="article",
            name="category_ref",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="knowledge.category"),
        ),
    ]
