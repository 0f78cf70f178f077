"""The article's category becomes the organisation's ``Category`` row (filled by 0004)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0004_seed_categories")]

    operations = [
        migrations.RemoveIndex(model_name="article", name="kb_article_cat_idx"),
        migrations.RemoveField(model_name="article", name="category"),
        migrations.RenameField(model_name="article", old_name="category_ref", new_name="category"),
        migrations.AlterField(
            model_name="article",
            name="category",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="articles", to="knowledge.category", verbose_name="category"),
        ),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(fields=["org", "category", "-updated_at"], name="kb_article_cat_idx"),
        ),
    ]
