"""Seed the HumanBeauty 12-dimension standard (order pinned by the public HumanAesExpert `prepare_data_for_swift.py` label vector).

The data is frozen here (not imported from app code) so this migration means the same thing forever.
"""

from django.db import migrations

DIMENSIONS = [
    # (order, key, name, parent, guideline, low anchor, high anchor)
    (0, "facial_brightness", "Facial Brightness", "facial_aesthetic",
     "How well the face is lit: exposure and evenness of light on the face, not the whole scene.",
     "Face is much too dark or blown out; harsh shadows hide features.",
     "Face is evenly and flatteringly lit; every feature is clearly visible."),
    (1, "facial_feature_clarity", "Facial Feature Clarity", "facial_aesthetic",
     "Sharpness and visibility of eyes, nose, mouth and brows (focus, motion blur, occlusion, resolution).",
     "Features are blurred, occluded or too small to make out.",
     "Features are crisp and fully visible."),
    (2, "facial_skin_tone", "Facial Skin Tone", "facial_aesthetic",
     "Naturalness and evenness of skin colour and texture as captured (colour casts, blotches, over-smoothing).",
     "Strong colour cast or uneven, unhealthy-looking rendering of the skin.",
     "Natural, even, healthy-looking skin rendering."),
    (3, "facial_structure", "Facial Structure", "facial_aesthetic",
     "Harmony and proportion of the facial features as shown from this angle and expression.",
     "Features look distorted or disproportionate (lens distortion, awkward angle or expression).",
     "Balanced, harmonious proportions shown from a flattering angle."),
    (4, "facial_contour_clarity", "Facial Contour Clarity", "facial_aesthetic",
     "Definition of the face outline, jawline and the separation of the face from the background.",
     "Face outline is lost in blur, shadow or background clutter.",
     "Clean, well-defined facial contour clearly separated from the background."),
    (5, "facial_aesthetic", "Facial Aesthetic Score", "overall",
     "Your overall judgement of the face's aesthetics, informed by the five facial dimensions.",
     "An unattractive rendering of the face overall.",
     "A strikingly attractive rendering of the face overall."),
    (6, "outfit", "Outfit", "general_appearance",
     "Clothing, accessories and styling: fit, coordination, suitability to the scene.",
     "Ill-fitting, clashing or unsuitable styling.",
     "Well-fitted, coordinated styling that suits the person and scene."),
    (7, "body_shape", "Body Shape", "general_appearance",
     "How the body's form and proportions are presented (pose, posture, framing, lens distortion).",
     "Awkward pose or framing that distorts or hides the body's proportions.",
     "A pose and framing that present the body's proportions gracefully."),
    (8, "looks", "Looks", "general_appearance",
     "Overall impression of the person's appearance and expressiveness: temperament, expression, charm.",
     "Lifeless or unappealing overall look.",
     "Captivating, expressive overall look."),
    (9, "environment", "Environment", "overall",
     "The setting, background, composition and colour around the person, and how they support the subject.",
     "Cluttered, distracting or ugly surroundings; poor composition.",
     "A pleasing setting and composition that flatter the subject."),
    (10, "general_appearance", "General Appearance Aesthetic Score", "overall",
     "Your overall judgement of the person's general appearance, informed by outfit, body shape and looks.",
     "An unattractive general appearance overall.",
     "A strikingly attractive general appearance overall."),
    (11, "overall", "Comprehensive Aesthetic Score", None,
     "The image's overall human-image aesthetics: face, general appearance and environment together. "
     "Rate it last, after the other eleven dimensions.",
     "An aesthetically poor human image overall.",
     "An excellent human image overall."),
]


def seed(apps, schema_editor):
    Standard = apps.get_model("annotation", "Standard")
    Dimension = apps.get_model("annotation", "Dimension")
    standard, created = Standard.objects.get_or_create(
        key="humanbeauty-v1",
        defaults={
            "name": "HumanBeauty 12-dimension standard",
            "description": "The HumanAesExpert paper's human-image aesthetic standard: 9 leaf dimensions, "
            "Facial Aesthetic and General Appearance Aesthetic parents, and the Comprehensive (overall) score; "
            "each scored in [0, 1].",
            "score_min": 0.0,
            "score_max": 1.0,
        },
    )
    if not created:
        return
    rows = {}
    for order, key, name, _parent, guideline, low, high in DIMENSIONS:
        rows[key] = Dimension.objects.create(
            standard=standard, key=key, name=name, order=order, guideline=guideline, low_anchor=low, high_anchor=high
        )
    for _order, key, _name, parent, *_ in DIMENSIONS:
        if parent:
            rows[key].parent = rows[parent]
            rows[key].save(update_fields=["parent"])


def unseed(apps, schema_editor):
    apps.get_model("annotation", "Standard").objects.filter(key="humanbeauty-v1").delete()


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
