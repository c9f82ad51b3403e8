"""Release formats as a registry: one small module per format, each an :class:`~.base.Exporter` with a name,
a relative cost weight and ``export(ctx)`` working on the shared
:class:`~curation.release_writer.ExportContext`.

:func:`curation.release_writer.write_release` validates the records into a context, runs every exporter of
:data:`REGISTRY` in order (timing each under its name, reporting progress by weight), then writes the
manifest. A release's layout (:data:`LAYOUTS`, chosen by its standard) names which registry runs and which
manifest it writes. Order matters only where an exporter ``needs`` another's results (checked by the tests). Adding a
format: docs/curation.md, "Adding a release format". Pure modules: no Django.
"""

from __future__ import annotations

from . import (
    artimuse,
    artimuse_release,
    card,
    changelog,
    croissant,
    humanaesexpert,
    imagefolder,
    images,
    parquet,
    pyiqa,
    ratings,
    scores_csv,
    stats,
    swift_qa,
)
from .base import Exporter, Layout

__all__ = ["LAYOUTS", "REGISTRY", "Exporter", "Layout", "get"]

REGISTRY: tuple[Exporter, ...] = (
    images.EXPORTER,
    imagefolder.EXPORTER,
    humanaesexpert.EXPORTER,
    swift_qa.EXPORTER,
    scores_csv.EXPORTER,
    pyiqa.EXPORTER,
    artimuse.EXPORTER,
    ratings.EXPORTER,
    parquet.EXPORTER,
    stats.EXPORTER,
    changelog.EXPORTER,
    card.EXPORTER,
    croissant.EXPORTER,
)

# Release layouts by key (``ReleaseSpec.layout``, chosen by the release's standard through
# ``curation.release_writer.STANDARD_LAYOUTS``): HumanBeauty's 50K/58K layout (every format above) and
# ArtiMuse's (``artimuse_release``).
LAYOUTS: dict[str, Layout] = {
    "humanbeauty": Layout(exporters=REGISTRY),
    "artimuse": artimuse_release.LAYOUT,
}


def get(name: str) -> Exporter:
    """The registered exporter called ``name`` (KeyError if none)."""
    for exporter in REGISTRY:
        if exporter.name == name:
            return exporter
    raise KeyError(name)
