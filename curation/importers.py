"""Importers that register a public IAA dataset from a local folder in its native layout.

Every importer has the signature ``import_<source>(root: Path) -> ImportResult`` and never raises for a
single bad row: rows whose image file is missing, whose score does not parse or lies outside the native
range, or whose id repeats within the source are returned in ``ImportResult.skipped`` with a reason.
A missing label file raises :class:`LabelFileNotFoundError` (a ``FileNotFoundError``).

The layouts assumed for each source are documented in ``docs/curation.md`` and in each function's
docstring. ``IMPORTERS`` maps a source key to an :class:`Importer` (loader + native score range).
Pure module: no Django, no network.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "IMAGE_EXTENSIONS",
    "IMPORTERS",
    "ImportResult",
    "Importer",
    "LabelFileNotFoundError",
    "SkippedRow",
    "SourceRow",
    "import_agiqa3k",
    "import_ava",
    "import_baid",
    "import_csv",
    "import_mebeauty",
    "import_scut_fbp5500",
    "import_tad66k",
    "make_csv_importer",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class LabelFileNotFoundError(FileNotFoundError):
    """The source's label file is missing: the folder is not in the expected native layout."""


@dataclass(frozen=True)
class SourceRow:
    path: Path  # absolute path of the image file
    raw_score: float  # score on the source's native scale
    source: str  # registry key, e.g. "scut_fbp5500"
    native_id: str  # the id the source uses (file name / AVA image id / relative path)
    extra: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SkippedRow:
    ref: str  # "<label file>:<line number>" or the native id
    reason: str


@dataclass
class ImportResult:
    rows: list[SourceRow]
    read: int  # label rows read (kept + skipped)
    skipped: list[SkippedRow]
    label_files: list[Path] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Importer:
    key: str
    load: Callable[[Path], ImportResult]
    score_range: tuple[float, float]  # native scale (inclusive)
    kind: str  # "natural" | "artistic" | "aigc" (paper Fig. 4a)
    layout: str  # one-line description of the expected folder layout


# --------------------------------------------------------------------------- helpers


class _Collector:
    """Accumulates rows for one source; applies the per-row rules shared by all importers."""

    def __init__(self, source: str, score_range: tuple[float, float] | None):
        self.source = source
        self.score_range = score_range
        self.rows: list[SourceRow] = []
        self.skipped: list[SkippedRow] = []
        self.read = 0
        self._seen: dict[str, str] = {}

    def skip(self, ref: str, reason: str) -> None:
        self.skipped.append(SkippedRow(ref, reason))

    def add(self, ref: str, native_id: str, raw_score, path: Path | None, extra: dict | None = None) -> None:
        native_id = (native_id or "").strip()
        if not native_id:
            self.skip(ref, "empty image reference")
            return
        try:
            score = float(raw_score)
        except (TypeError, ValueError):
            self.skip(ref, f"unparsable score {raw_score!r}")
            return
        if not math.isfinite(score):
            self.skip(ref, f"non-finite score {raw_score!r}")
            return
        if self.score_range is not None:
            lo, hi = self.score_range
            if not lo <= score <= hi:
                self.skip(ref, f"score {score} outside native range [{lo}, {hi}]")
                return
        if native_id in self._seen:
            self.skip(ref, f"duplicate of {self._seen[native_id]} ({native_id})")
            return
        if path is None or not path.is_file():
            self.skip(ref, f"image file missing: {native_id}")
            return
        self._seen[native_id] = ref
        self.rows.append(SourceRow(path.resolve(), score, self.source, native_id, dict(extra or {})))

    def result(self, label_files: Sequence[Path]) -> ImportResult:
        return ImportResult(self.rows, self.read, self.skipped, list(label_files))


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise LabelFileNotFoundError(f"{what} not found: {path}")
    return path


def _first_existing(root: Path, candidates: Iterable[str], what: str) -> Path:
    cands = list(candidates)
    for c in cands:
        p = root / c
        if p.is_file():
            return p
    raise LabelFileNotFoundError(f"{what} not found under {root} (looked for: {', '.join(cands)})")


def _resolve_image(root: Path, image_dirs: Sequence[str], name: str) -> Path | None:
    """First existing ``root/<dir>/<name>``; tries the given extensions when ``name`` has none."""
    name = name.strip().replace("\\", "/")
    for d in image_dirs:
        base = (root / d / name) if d else (root / name)
        if base.is_file():
            return base
        if not base.suffix:
            for ext in IMAGE_EXTENSIONS:
                p = base.with_suffix(ext)
                if p.is_file():
                    return p
    return None


def _open_text(path: Path):
    # utf-8-sig strips a BOM (Excel exports); newline="" for the csv module
    return path.open("r", encoding="utf-8-sig", newline="")


def _pick_column(fieldnames: Sequence[str], wanted: Sequence[str], what: str, path: Path) -> str:
    lower = {f.strip().lower(): f for f in fieldnames if f is not None}
    for w in wanted:
        if w.lower() in lower:
            return lower[w.lower()]
    raise ValueError(f"{path}: no {what} column (expected one of {list(wanted)}, found {list(fieldnames)})")


def _read_csv_rows(
    col: _Collector,
    csv_path: Path,
    root: Path,
    *,
    image_cols: Sequence[str],
    score_cols: Sequence[str],
    image_dirs: Sequence[str],
    extra_cols: Sequence[str] = (),
    delimiter: str = ",",
) -> None:
    with _open_text(csv_path) as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        if reader.fieldnames is None:
            return
        img_col = _pick_column(reader.fieldnames, image_cols, "image", csv_path)
        score_col = _pick_column(reader.fieldnames, score_cols, "score", csv_path)
        present_extra = [c for c in extra_cols if c in reader.fieldnames]
        for lineno, rec in enumerate(reader, start=2):
            col.read += 1
            ref = f"{csv_path.name}:{lineno}"
            name = (rec.get(img_col) or "").strip()
            path = _resolve_image(root, image_dirs, name) if name else None
            extra = {c: rec.get(c) for c in present_extra}
            col.add(ref, name, rec.get(score_col), path, extra)


# --------------------------------------------------------------------------- sources


def import_scut_fbp5500(root: Path) -> ImportResult:
    """SCUT-FBP5500 v2: ``Images/`` + ``train_test_files/All_labels.txt`` ("AF1.jpg 2.716667", 1-5).

    Falls back to the per-rater table exported to CSV (``All_Ratings.csv`` at the root or in
    ``train_test_files/``; header ``Rater,Filename,Rating``): the mean over raters is the score and the
    rater count goes to ``extra["n_ratings"]``. The native ``All_Ratings.xlsx`` must be exported to CSV
    first (no xlsx reader is a dependency).
    """
    root = Path(root)
    col = _Collector("scut_fbp5500", (1.0, 5.0))
    dirs = ("Images", "images", "")
    labels = root / "train_test_files" / "All_labels.txt"
    if labels.is_file():
        with labels.open("r", encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                col.read += 1
                ref = f"{labels.name}:{lineno}"
                parts = line.split()
                if len(parts) != 2:
                    col.skip(ref, f"expected 'filename score', got {line.strip()!r}")
                    continue
                name, score = parts
                col.add(ref, name, score, _resolve_image(root, dirs, name))
        return col.result([labels])

    ratings = None
    for cand in ("All_Ratings.csv", "train_test_files/All_Ratings.csv"):
        if (root / cand).is_file():
            ratings = root / cand
            break
    if ratings is None:
        if (root / "All_Ratings.xlsx").is_file():
            raise LabelFileNotFoundError(
                f"{root}: only All_Ratings.xlsx found; export it to All_Ratings.csv (Rater,Filename,Rating) "
                "or provide train_test_files/All_labels.txt"
            )
        raise LabelFileNotFoundError(
            f"{root}: neither train_test_files/All_labels.txt nor All_Ratings.csv found"
        )

    sums: dict[str, list[float]] = {}
    first_line: dict[str, str] = {}
    bad: list[SkippedRow] = []
    n_lines = 0
    with _open_text(ratings) as fh:
        reader = csv.DictReader(fh)
        fn_col = _pick_column(reader.fieldnames or [], ("Filename", "filename", "image"), "Filename", ratings)
        r_col = _pick_column(reader.fieldnames or [], ("Rating", "rating", "score"), "Rating", ratings)
        for lineno, rec in enumerate(reader, start=2):
            n_lines += 1
            ref = f"{ratings.name}:{lineno}"
            name = (rec.get(fn_col) or "").strip()
            try:
                v = float(rec.get(r_col))
            except (TypeError, ValueError):
                bad.append(SkippedRow(ref, f"unparsable rating {rec.get(r_col)!r}"))
                continue
            if not name or not math.isfinite(v) or not 1.0 <= v <= 5.0:
                bad.append(SkippedRow(ref, f"invalid rating row ({name!r}, {rec.get(r_col)!r})"))
                continue
            sums.setdefault(name, []).append(v)
            first_line.setdefault(name, ref)
    col.skipped.extend(bad)
    # one image = one label row; "read" counts images plus the rating lines that were rejected
    col.read = len(bad)
    for name in sorted(sums):
        vals = sums[name]
        col.read += 1
        col.add(
            first_line[name],
            name,
            sum(vals) / len(vals),
            _resolve_image(root, dirs, name),
            {"n_ratings": len(vals), "rating_lines": n_lines},
        )
    return col.result([ratings])


def import_mebeauty(root: Path) -> ImportResult:
    """MEBeauty: a CSV of image path + mean score (1-10).

    Looks for ``scores/generic_scores_all.csv`` (the repo's file), then ``scores.csv`` / ``labels.csv``
    at the root. Image column: ``image``/``image_path``/``path``/``filename``; score column:
    ``score``/``mean``/``mean_score``/``mos``. Paths are resolved against the root, then
    ``original_images/``, then ``images/``.
    """
    root = Path(root)
    labels = _first_existing(
        root,
        ("scores/generic_scores_all.csv", "generic_scores_all.csv", "scores.csv", "labels.csv"),
        "MEBeauty score CSV",
    )
    col = _Collector("mebeauty", (1.0, 10.0))
    _read_csv_rows(
        col,
        labels,
        root,
        image_cols=("image", "image_path", "path", "filename", "file"),
        score_cols=("score", "mean", "mean_score", "mos"),
        image_dirs=("", "original_images", "images"),
    )
    return col.result([labels])


def import_ava(root: Path) -> ImportResult:
    """AVA: ``AVA.txt`` (space separated, no header: index, image_id, 10 vote counts for scores 1-10,
    tag1, tag2, challenge_id) + ``images/<image_id>.jpg``. Score = vote-weighted mean (1-10)."""
    root = Path(root)
    labels = _first_existing(root, ("AVA.txt", "AVA_dataset/AVA.txt"), "AVA.txt")
    img_dirs = ("images", "AVA_dataset/images", "")
    col = _Collector("ava", (1.0, 10.0))
    with labels.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            col.read += 1
            ref = f"{labels.name}:{lineno}"
            if len(parts) < 12:
                col.skip(ref, f"expected >= 12 columns, got {len(parts)}")
                continue
            image_id = parts[1]
            try:
                votes = [int(v) for v in parts[2:12]]
            except ValueError:
                col.skip(ref, "unparsable vote counts")
                continue
            n = sum(votes)
            if n <= 0 or any(v < 0 for v in votes):
                col.skip(ref, "no votes")
                continue
            mean = sum((i + 1) * v for i, v in enumerate(votes)) / n
            var = sum(v * ((i + 1) - mean) ** 2 for i, v in enumerate(votes)) / n
            extra = {
                "n_ratings": n,
                "vote_std": math.sqrt(var),
                "votes": votes,
                "tags": [int(t) for t in parts[12:14] if t.lstrip("-").isdigit()],
                "challenge": int(parts[14]) if len(parts) > 14 and parts[14].isdigit() else None,
            }
            col.add(ref, image_id, mean, _resolve_image(root, img_dirs, f"{image_id}.jpg"), extra)
    return col.result([labels])


def import_tad66k(root: Path) -> ImportResult:
    """TAD66K (woshidandan/TANet): ``labels/merge/{train,test}.csv`` with header ``image,score``
    (the first two columns are used whatever their names; score on the 1-10 scale) + ``images/``.
    Also accepts a single ``labels.csv``/``label.csv`` at the root. ``extra["official_split"]`` keeps
    the file the row came from."""
    root = Path(root)
    files = [
        p
        for p in (root / "labels" / "merge" / "train.csv", root / "labels" / "merge" / "test.csv")
        if p.is_file()
    ]
    if not files:
        files = [_first_existing(root, ("labels.csv", "label.csv", "train.csv"), "TAD66K label CSV")]
    col = _Collector("tad66k", (0.0, 10.0))
    for f in files:
        with _open_text(f) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                continue
            has_header = True
            try:
                float(header[1])
                has_header = False
            except (ValueError, IndexError):
                pass
            rows = reader if has_header else [header, *reader]
            for lineno, rec in enumerate(rows, start=2 if has_header else 1):
                if not rec or not any(c.strip() for c in rec):
                    continue
                col.read += 1
                ref = f"{f.parent.name}/{f.name}:{lineno}"
                if len(rec) < 2:
                    col.skip(ref, "expected 'image,score'")
                    continue
                name = rec[0].strip()
                col.add(
                    ref, name, rec[1], _resolve_image(root, ("images", ""), name), {"official_split": f.stem}
                )
    return col.result(files)


def import_baid(root: Path) -> ImportResult:
    """BAID (Dreemurr-T/BAID): ``dataset/{train_set,test_set}.csv`` (or the same names at the root)
    with columns ``image,score`` (score 0-10) + ``images/``."""
    root = Path(root)
    files = [
        p
        for d in ("dataset", "")
        for p in ((root / d / "train_set.csv"), (root / d / "test_set.csv"))
        if p.is_file()
    ]
    if not files:
        files = [_first_existing(root, ("scores.csv", "labels.csv"), "BAID train_set.csv/test_set.csv")]
    col = _Collector("baid", (0.0, 10.0))
    for f in files:
        _read_csv_rows(
            col,
            f,
            root,
            image_cols=("image", "name", "filename"),
            score_cols=("score", "mos"),
            image_dirs=("images", "dataset/images", ""),
        )
    return col.result(files)


def import_agiqa3k(root: Path) -> ImportResult:
    """AGIQA-3K: ``data.csv`` with ``name``, ``prompt``, ``mos_quality``, ``mos_align`` (+ std columns).
    The aesthetic score is ``mos_quality`` (perceptual quality MOS, 0-5 scale); ``mos_align`` and the
    prompt are kept in ``extra``. Images in ``images/`` or next to ``data.csv``."""
    root = Path(root)
    labels = _first_existing(root, ("data.csv",), "AGIQA-3K data.csv")
    col = _Collector("agiqa3k", (0.0, 5.0))
    _read_csv_rows(
        col,
        labels,
        root,
        image_cols=("name",),
        score_cols=("mos_quality",),
        image_dirs=("images", "AGIQA-3K", ""),
        extra_cols=("prompt", "mos_align", "std_quality", "std_align", "adj1", "adj2", "style"),
    )
    return col.result([labels])


def import_csv(
    root: Path,
    *,
    csv_name: str = "scores.csv",
    source: str = "custom",
    image_col: str = "image",
    score_col: str = "score",
    score_range: tuple[float, float] | None = None,
    image_dir: str = "images",
    delimiter: str = ",",
    extra_cols: Sequence[str] = (),
) -> ImportResult:
    """Generic ``image,score`` CSV (new sources such as APDDv2 or LAPIS). Image paths are resolved
    against ``root/image_dir`` and then ``root``; ``score_range`` (inclusive) rejects outliers."""
    root = Path(root)
    labels = _require(root / csv_name, f"{source} label CSV")
    col = _Collector(source, score_range)
    _read_csv_rows(
        col,
        labels,
        root,
        image_cols=(image_col,),
        score_cols=(score_col,),
        image_dirs=(image_dir, ""),
        extra_cols=extra_cols,
        delimiter=delimiter,
    )
    return col.result([labels])


def make_csv_importer(
    key: str,
    *,
    score_range: tuple[float, float],
    kind: str = "natural",
    csv_name: str = "scores.csv",
    image_col: str = "image",
    score_col: str = "score",
    image_dir: str = "images",
    delimiter: str = ",",
) -> Importer:
    """An :class:`Importer` for a new source in the generic CSV layout (register it in ``IMPORTERS``)."""

    def load(root: Path) -> ImportResult:
        return import_csv(
            root,
            csv_name=csv_name,
            source=key,
            image_col=image_col,
            score_col=score_col,
            score_range=score_range,
            image_dir=image_dir,
            delimiter=delimiter,
        )

    layout = f"{csv_name} ({image_col},{score_col}) + {image_dir}/"
    return Importer(key, load, score_range, kind, layout)


IMPORTERS: dict[str, Importer] = {
    "scut_fbp5500": Importer(
        "scut_fbp5500",
        import_scut_fbp5500,
        (1.0, 5.0),
        "natural",
        "Images/ + train_test_files/All_labels.txt (or All_Ratings.csv Rater,Filename,Rating)",
    ),
    "mebeauty": Importer(
        "mebeauty", import_mebeauty, (1.0, 10.0), "natural", "scores/generic_scores_all.csv (image,score)"
    ),
    "ava": Importer("ava", import_ava, (1.0, 10.0), "natural", "AVA.txt + images/<id>.jpg"),
    "tad66k": Importer(
        "tad66k",
        import_tad66k,
        (0.0, 10.0),
        "natural",
        "labels/merge/{train,test}.csv (image,score) + images/",
    ),
    "baid": Importer(
        "baid",
        import_baid,
        (0.0, 10.0),
        "artistic",
        "dataset/{train_set,test_set}.csv (image,score) + images/",
    ),
    "agiqa3k": Importer(
        "agiqa3k", import_agiqa3k, (0.0, 5.0), "aigc", "data.csv (name, mos_quality, mos_align) + images/"
    ),
}
