import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("contenttypes", "0002_remove_content_type_name")]

    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False,
                                        verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("slug", models.SlugField(max_length=100, unique=True)),
            ],
        ),
        migrations.CreateModel(
            name="TaggedItem",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False,
                                        verbose_name="ID")),
                ("object_id", models.PositiveIntegerField(db_index=True)),
                ("content_type", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE,
                    to="contenttypes.contenttype")),
                ("tag", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                          related_name="items", to="taggit_lite.tag")),
            ],
            options={"indexes": [models.Index(fields=["content_type", "object_id"],
                                              name="taggit_lite_ct_obj_idx")]},
        ),
    ]
