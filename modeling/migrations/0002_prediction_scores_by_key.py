"""Prediction stores dimensions and heads by key (JSON) plus the standard they refer to, not fixed columns.

Existing rows move: the 12 dimension columns become ``dimension_scores`` (in the HumanBeauty order) and the
head columns ``head_scores``; ``standard`` is the HumanBeauty standard, the only one predictions existed for.
Reversible: going back refills the columns from the JSON (for rows of that standard).
The keys are frozen here (not imported from app code) so this migration means the same thing forever.
"""

import django.db.models.deletion
from django.db import migrations, models

DIMENSION_COLUMNS = (
    "facial_brightness", "facial_feature_clarity", "facial_skin_tone", "facial_structure",
    "facial_contour_clarity", "facial_aesthetic", "outfit", "body_shape", "looks", "environment",
    "general_appearance", "overall",
)
HEAD_COLUMNS = {"lm": "lm_score", "regression": "regression_score", "expert": "expert_overall", "final": "final_score"}
STANDARD_KEY = "humanbeauty-v1"


def forward(apps, schema_editor):
    Prediction = apps.get_model("modeling", "Prediction")
    Standard = apps.get_model("annotation", "Standard")
    rows = list(Prediction.objects.all())
    if not rows:
        return
    standard = Standard.objects.get(key=STANDARD_KEY)
    for p in rows:
        p.standard_id = standard.pk
        p.dimension_scores = {k: getattr(p, k) for k in DIMENSION_COLUMNS}
        p.head_scores = {head: getattr(p, col) for head, col in HEAD_COLUMNS.items()}
    Prediction.objects.bulk_update(rows, ["standard", "dimension_scores", "head_scores"], batch_size=1000)


def backward(apps, schema_editor):
    Prediction = apps.get_model("modeling", "Prediction")
    rows = list(Prediction.objects.all())
    keep = []
    for p in rows:
        dims, heads = p.dimension_scores or {}, p.head_scores or {}
        if not all(k in dims for k in DIMENSION_COLUMNS):
            p.delete()  # a prediction for another standard has no place in the fixed columns
            continue
        for k in DIMENSION_COLUMNS:
            setattr(p, k, dims[k])
        for head, col in HEAD_COLUMNS.items():
            setattr(p, col, heads.get(head) if head == "final" else heads.get(head, p.score))
        keep.append(p)
    Prediction.objects.bulk_update(keep, list(DIMENSION_COLUMNS) + list(HEAD_COLUMNS.values()), batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0002_seed_humanbeauty_standard"),
        ("modeling", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="prediction",
            name="standard",
            field=models.ForeignKey(
                null=True,
                help_text="The standard the dimensions belong to.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="annotation.standard",
            ),
        ),
        migrations.AddField(
            model_name="prediction",
            name="dimension_scores",
            field=models.JSONField(default=dict, help_text="{dimension key: score} (JSONB keeps no order: read .dimensions)."),
        ),
        migrations.AddField(
            model_name="prediction",
            name="head_scores",
            field=models.JSONField(default=dict, help_text="{head name: overall score or null}."),
        ),
        # Nullable first, so that going back can re-add the columns before refilling them.
        *[
            migrations.AlterField(model_name="prediction", name=name, field=models.FloatField(null=True))
            for name in (*DIMENSION_COLUMNS, *HEAD_COLUMNS.values())
        ],
        migrations.RunPython(forward, backward),
        *[migrations.RemoveField(model_name="prediction", name=name) for name in (*DIMENSION_COLUMNS, *HEAD_COLUMNS.values())],
        migrations.AlterField(
            model_name="prediction",
            name="standard",
            field=models.ForeignKey(
                help_text="The standard the dimensions belong to.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="annotation.standard",
            ),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="score",
            field=models.FloatField(help_text="The MetaVoter's score, or the heads' mean without a MetaVoter."),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="heads_disagreement",
            field=models.FloatField(help_text="Population SD of the heads' overall scores."),
        ),
    ]
