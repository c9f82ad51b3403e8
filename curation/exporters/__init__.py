"""Release formats as a registry: one small module per format, each an :class:`~.base.Exporter` with a name,
a relative cost weight and ``export(ctx)`` working on the shared
:class:`~curation.release_writer.ExportContext`.

:func:`curation.release_writer.write_release` validates the records into a context, runs every exporter of
:data:`REGISTRY` in order (timing each under its name, reporting progress by weight), then writes the
manifest. Order matters only where an exporter ``needs`` another's results (checked by the tests). Adding a
format: docs/curation.md, "Adding a release format". Pure modules: no Django.
"""

from __future__ import annotations

from . import (
    artimuse,
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
from .base import Exporter

__all__ = ["REGISTRY", "Exporter", "get"]

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


def get(name: str) -> Exporter:
    """The registered exporter called ``name`` (KeyError if none)."""
    for exporter in REGISTRY:
        if exporter.name == name:
            return exporter
    raise KeyError(name)
