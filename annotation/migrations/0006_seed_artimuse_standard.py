"""Seed ArtiMuse's 8-attribute standard (docs/standards.md): seven attributes under a comprehensive evaluation,
each scored in [0, 1] with a required written comment.

The data is frozen here (not imported from app code) so this migration means the same thing forever.
"""

from django.db import migrations

KEY = "artimuse-v1"
ATTRIBUTES = (('composition',
  'Composition & Design',
  'Arrangement of the elements in the frame: balance, framing, visual flow, use of space and focal point.',
  'Cluttered or unbalanced; the eye has nowhere to go.',
  'A deliberate, balanced arrangement that leads the eye to the subject.'),
 ('visual_elements',
  'Visual Elements & Structure',
  "Colour, light, tone, line, shape and texture, and how they build the image's structure.",
  'Muddy colour and light; elements fight each other.',
  'Colour, light and form work together into a clear structure.'),
 ('technical',
  'Technical Execution',
  'Craft: focus, exposure, rendering or brushwork, processing quality, absence of artefacts.',
  'Blur, noise, bad exposure or visible artefacts spoil the image.',
  'Flawless execution that serves the intent.'),
 ('originality',
  'Originality & Creativity',
  'Novelty of the idea, viewpoint or treatment; what the image adds beyond the familiar.',
  'A cliché seen many times, nothing of its own.',
  'A fresh idea or viewpoint that surprises.'),
 ('theme',
  'Theme & Communication',
  'How clearly and deeply the image conveys its subject, message or story.',
  'No discernible subject or message.',
  'A clear, rich theme communicated with intent.'),
 ('emotion',
  'Emotion & Viewer Response',
  'The mood the image evokes and how strongly it engages the viewer.',
  'Leaves the viewer indifferent.',
  'A strong, lasting emotional response.'),
 ('gestalt',
  'Overall Gestalt',
  'How the parts cohere into one unified whole (more than the sum of the attributes above).',
  'Parts that do not belong together.',
  'A unified whole in which every part belongs.'),
 ('comprehensive',
  'Comprehensive Evaluation',
  'Your overall aesthetic judgement of the image, informed by the seven attributes. Rate it last.',
  'An aesthetically poor image overall.',
  'An outstanding image overall.'))


def seed(apps, schema_editor):
    Standard = apps.get_model("annotation", "Standard")
    Dimension = apps.get_model("annotation", "Dimension")
    standard, created = Standard.objects.get_or_create(
        key=KEY,
        defaults={
            "name": "ArtiMuse 8-attribute standard",
            "description": "ArtiMuse's fine-grained image aesthetics: seven attributes and a comprehensive "
            "evaluation, each scored in [0, 1] with a required written comment.",
            "score_min": 0.0,
            "score_max": 1.0,
            "min_ratings": 3,
        },
    )
    if not created:
        return
    rows = {}
    for order, (key, name, guideline, low, high) in enumerate(ATTRIBUTES):
        rows[key] = Dimension.objects.create(
            standard=standard, key=key, name=name, order=order, guideline=guideline, low_anchor=low,
            high_anchor=high, asks_comment=True, comment_required=True,
        )
    root = rows["comprehensive"]
    for key, row in rows.items():
        if key != "comprehensive":
            row.parent = root
            row.save(update_fields=["parent"])


def unseed(apps, schema_editor):
    Standard = apps.get_model("annotation", "Standard")
    Dimension = apps.get_model("annotation", "Dimension")
    Dimension.objects.filter(standard__key=KEY).update(parent=None)
    Standard.objects.filter(key=KEY).delete()


class Migration(migrations.Migration):
    dependencies = [("annotation", "0005_dimension_comment_required")]

    operations = [migrations.RunPython(seed, unseed)]
