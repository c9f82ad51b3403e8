"""The exporter record: what a release format is to :func:`curation.release_writer.write_release`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..release_writer import ExportContext


@dataclass(frozen=True)
class Exporter:
    """One release format.

    ``name`` keys its time in ``Release.timings``; ``weight`` is its relative cost (seconds at full scale on
    the reference box, see docs/benchmarks.md): the job's progress advances by the weights of the finished
    exporters. ``export(ctx)`` writes its files through ``ctx.tree`` (which hashes them for SHA256SUMS) and
    may leave results on the context for later exporters; ``needs`` names the exporters whose results it
    reads (they come earlier in the registry); ``outputs`` are glob patterns of the files it writes,
    relative to the release root (documentation, and checked by its test)."""

    name: str
    weight: float
    export: Callable[[ExportContext], None]
    outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """A release layout: the exporters that write it, in order, and the function that makes its
    ``release.json`` (``manifest(ctx, release_sha256)``; None: the HumanBeauty manifest)."""

    exporters: tuple[Exporter, ...]
    manifest: Callable[[ExportContext, str], dict] | None = None
