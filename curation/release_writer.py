"""Write a complete, deterministic HumanBeauty release directory from a frozen in-memory description.

Entry points: :func:`write_release` (spec + records -> directory), :func:`assign_split`,
:func:`load_previous_release` (prior release dir -> :class:`PreviousRelease` for diffs/frozen splits).

Determinism: records are sorted by ``image_id``; JSON is written with sorted keys where key order is
free; the only timestamp is ``spec.created_at``; Parquet is written by pyarrow with fixed options (its
``created_by`` names the pyarrow version, so byte identity holds for a fixed environment); PNGs are saved
with ``metadata={"Software": None}``. Two builds of the same inputs give byte-identical files and the same
``release_sha256``. Images are hard-linked from the store (copied across devices), never re-encoded; the
SHA-256 of each image link is its ``image_id`` (verified while the bytes are read for Parquet).
Pure module: no Django.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modeling.standard import (
    DIMENSION_KEYS,
    DIMENSIONS,
    EXPERT_QUESTIONS,
    LEVEL_CUTS,
    LEVELS,
    NUM_DIMENSIONS,
    OVERALL_QUESTIONS,
    STANDARD_KEY,
)

from . import card as card_mod

__all__ = [
    "DIM_COLUMNS",
    "DIM_STATS",
    "LEVEL_RULES",
    "PARTS",
    "SPLITS",
    "PreviousRelease",
    "RatingsTable",
    "ReleaseError",
    "ReleaseRecord",
    "ReleaseResult",
    "ReleaseSpec",
    "assign_split",
    "level_of",
    "load_previous_release",
    "question_for",
    "stratified_splits",
    "write_release",
]

SPLITS: tuple[str, ...] = ("train", "test")
PARTS: tuple[str, ...] = ("50K", "58K")
PART_DIRS: dict[str, str] = {"50K": "HumanBeauty-50K", "58K": "HumanBeauty-58K"}
LEGACY_DIM_COLUMNS: tuple[str, ...] = tuple(f"d{i + 1:02d}" for i in range(NUM_DIMENSIONS))  # releases < 1.1
# Per image and dimension: SUREAL psi (the main score) and its SE, then the plain MOS with its sample SD, n and
# 95 % Student-t CI half-width. Columns are "<dimension key>_<stat>", e.g. "overall_psi".
DIM_STATS: tuple[str, ...] = ("psi", "psi_se", "mos", "sd", "n", "ci95")
DIM_COLUMNS: tuple[str, ...] = tuple(f"{k}_psi" for k in DIMENSION_KEYS)  # the main per-dimension scores
STAT_COLUMNS: tuple[str, ...] = tuple(f"{k}_{st}" for k in DIMENSION_KEYS for st in DIM_STATS)
# Level cuts: the public code's lower-inclusive bins ([0.2, 0.4) is poor) or the paper's Eq. 2, whose bins
# are upper-inclusive ((0.2, 0.4] is poor). A release option, recorded in release.json.
LEVEL_RULES: dict[str, str] = {
    "lower_inclusive": "bad < 0.2 <= poor < 0.4 <= fair < 0.6 <= good < 0.8 <= excellent "
    "(the public HumanAesExpert code)",
    "upper_inclusive": "bad <= 0.2 < poor <= 0.4 < fair <= 0.6 < good <= 0.8 < excellent "
    "(the HumanAesExpert paper, Eq. 2)",
}
IMAGEFOLDER_COLUMNS: tuple[str, ...] = (
    "image_id", "source", "part", "score", "score_kind", "rating_level", "n_ratings", "score_std",
    *DIM_COLUMNS, *(f"{k}_mos" for k in DIMENSION_KEYS),
)  # fmt: skip
MIN_STRATUM_FOR_TEST = 5  # a stratum (part, source) of at least this many images always gets a test image
HAE_ROOT = "HumanAesExpert"
ARTIMUSE_DIR = "artimuse/test_datasets/HumanBeauty"
PYIQA_CSV = "pyiqa/meta_info_HumanBeautyDataset.csv"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+][0-9A-Za-z.-]+)?$")
_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
RELABEL_TOL = 1e-9


class ReleaseError(ValueError):
    """Invalid spec or records (nothing is written)."""


@dataclass(frozen=True)
class ReleaseRecord:
    image_id: str  # sha256 hex of the image bytes
    image_path: Path | str  # absolute path of the stored bytes
    ext: str  # ".jpg" (leading dot optional)
    source: str
    part: str  # "50K" (12-dim MOS) | "58K" (overall only)
    mos: float  # overall in [0, 1]
    dims: tuple[float, ...] | None = None  # 12 floats (50K) in DIMENSIONS order, None for 58K
    n_ratings: int = 0
    mos_std: float | None = None
    dim_sd: tuple[float, ...] | None = None
    dim_ci: tuple[float, ...] | None = None  # half-width of the 95% CI per dimension
    split: str | None = None  # "train" | "test"; frozen splits of prior releases win
    dim_mos: tuple[float, ...] | None = None  # plain MOS per dimension (50K); ``dims`` is the main score
    dim_n: tuple[int, ...] | None = None  # ratings per dimension
    dim_psi: tuple[float, ...] | None = None  # SUREAL psi per dimension (unclipped)
    psi_se: tuple[float, ...] | None = None


@dataclass(frozen=True)
class RatingsTable:
    """The raw ratings behind the 50K part, one row per rating (columnar). ``rater`` is already a
    pseudonym; ``scores`` is ``[R, 12]`` in :data:`DIMENSIONS` order on [0, 1], NaN where the rater could
    not judge. ``raters`` maps each pseudonym to its SUREAL ``bias`` and ``inconsistency`` (12 each)."""

    image_id: Sequence[str]
    rater: Sequence[str]
    scores: Sequence[Sequence[float]]
    dwell_ms: Sequence[int | None]
    campaign: Sequence[str]
    day: Sequence[str]
    raters: Mapping[str, Mapping[str, Sequence[float | None]]] = field(default_factory=dict)


@dataclass(frozen=True)
class PreviousRelease:
    version: str
    splits: Mapping[str, str]  # image_id -> split
    labels: Mapping[str, dict]  # image_id -> {"mos", "dims", "part", "source"}
    split_salt: str = ""
    release_sha256: str = ""
    changelog: str = ""


@dataclass(frozen=True)
class ReleaseSpec:
    version: str  # semver
    name: str = "HumanBeauty"
    created_at: str = "1970-01-01T00:00:00Z"  # fixed string, never now()
    split_salt: str = "humanbeauty"
    standard_key: str = STANDARD_KEY
    aggregation: Mapping = field(default_factory=dict)
    previous: PreviousRelease | None = None
    license: str = "other"
    card: Mapping = field(default_factory=dict)
    test_fraction: float = 0.1
    detector: str = "RetinaFace"
    normalisation: Mapping = field(default_factory=dict)  # e.g. per-source {min, max, n}
    changelog_notes: str = ""
    level_rule: str = "lower_inclusive"  # key of LEVEL_RULES
    min_ratings: int | None = None  # the standard's minimum ratings per 50K image (checked)
    score_kind: str = "mos"  # "sureal_psi" when the 50K main scores are SUREAL psi
    qualification: Mapping = field(default_factory=dict)  # protocols + funnels that certified the raters
    detector_params: Mapping = field(default_factory=dict)


@dataclass
class ReleaseResult:
    out_dir: Path
    release_sha256: str
    manifest: dict
    diff: dict
    timings: dict[str, float]
    n_files: int


def assign_split(
    image_id: str, salt: str, test_fraction: float = 0.1, frozen: Mapping[str, str] | None = None
) -> str:
    """Test iff ``int(sha256(f"{salt}:{image_id}")[:16], 16) / 2**64 < test_fraction``;
    a split in ``frozen`` (earlier releases) always wins."""
    if frozen is not None:
        s = frozen.get(image_id)
        if s is not None:
            return s
    u = int(hashlib.sha256(f"{salt}:{image_id}".encode()).hexdigest()[:16], 16) / 2**64
    return "test" if u < test_fraction else "train"


def stratified_splits(
    items: Iterable[tuple[str, str]],
    salt: str,
    test_fraction: float,
    frozen: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Split per stratum (``(image_id, stratum)`` pairs; the platform's stratum is ``"<part>/<source>"``).

    Design: a stratum of n images should hold ``t = round(test_fraction * n)`` test images (at least one
    when ``n >= MIN_STRATUM_FOR_TEST``). Images with a frozen split (earlier releases) keep it; the new
    images of the stratum are ordered by ``u = int(sha256(f"{salt}:{image_id}")[:16], 16)`` and the first
    ``max(0, t - frozen test images)`` become test, the rest train. Deterministic (no RNG state), and a
    new version only adds test images to strata that are short of their share, so splits never move.
    """
    frozen = frozen or {}
    strata: dict[str, list[str]] = defaultdict(list)
    for image_id, stratum in items:
        strata[stratum].append(image_id)
    out: dict[str, str] = {}
    for ids in strata.values():
        n = len(ids)
        target = math.floor(test_fraction * n + 0.5)
        if target == 0 and n >= MIN_STRATUM_FOR_TEST:
            target = 1
        kept = [i for i in ids if i in frozen]
        for i in kept:
            out[i] = frozen[i]
        need = max(0, target - sum(1 for i in kept if frozen[i] == "test"))
        new = sorted((i for i in ids if i not in frozen), key=lambda i: (_u64(salt, i), i))
        for k, i in enumerate(new):
            out[i] = "test" if k < need else "train"
    return out


def _u64(salt: str, image_id: str) -> int:
    return int(hashlib.sha256(f"{salt}:{image_id}".encode()).hexdigest()[:16], 16)


SPLIT_RULE = (
    "per stratum (part, source): t = round(test_fraction * n) test images, at least 1 when n >= "
    f"{MIN_STRATUM_FOR_TEST}; images published before keep their split; the stratum's new images sorted by "
    'int(sha256(f"{salt}:{image_id}")[:16], 16) fill the missing test places first, the rest are train'
)


def level_of(score: float, rule: str = "lower_inclusive") -> str:
    """Rating level of a score in [0, 1] under a :data:`LEVEL_RULES` rule (cuts 0.2/0.4/0.6/0.8)."""
    if not math.isfinite(score):
        raise ValueError(f"score must be finite, got {score!r}")
    upper = rule == "upper_inclusive"
    for cut, level in zip(LEVEL_CUTS, LEVELS, strict=False):
        if score < cut or (upper and score == cut):
            return level
    return LEVELS[-1]


def _overall_answer(score: float, rule: str) -> str:
    return f"The aesthetics of the human image is {level_of(score, rule)}"


def _expert_answer(scores: Sequence[float], rule: str) -> str:
    return "\n".join(
        f"{d.index + 1}. {d.name} : {level_of(v, rule)}" for d, v in zip(DIMENSIONS, scores, strict=True)
    )


def question_for(image_id: str, expert: bool) -> str:
    """Deterministic paraphrase choice from the image id."""
    qs = EXPERT_QUESTIONS if expert else OVERALL_QUESTIONS
    return qs[int(image_id[:8], 16) % len(qs)]


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Rec:
    r: ReleaseRecord
    ext: str
    split: str

    @property
    def name(self) -> str:
        return self.r.image_id + self.ext


def _fin(x, what: str) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ReleaseError(f"{what}: non-finite value")
    return x


def _validate(spec: ReleaseSpec, records: Iterable[ReleaseRecord]) -> list[_Rec]:
    if not _SEMVER.match(spec.version):
        raise ReleaseError(f"version {spec.version!r} is not semver")
    if not 0.0 < spec.test_fraction < 1.0:
        raise ReleaseError("test_fraction must be in (0, 1)")
    if spec.level_rule not in LEVEL_RULES:
        raise ReleaseError(f"level_rule {spec.level_rule!r} not in {sorted(LEVEL_RULES)}")
    frozen = dict(spec.previous.splits) if spec.previous else {}
    out: list[tuple[ReleaseRecord, str, str | None]] = []
    seen: set[str] = set()
    for r in records:
        iid = r.image_id
        if not isinstance(iid, str) or not _HEX64.match(iid):
            raise ReleaseError(f"image_id {iid!r} is not a lowercase sha256 hex digest")
        if iid in seen:
            raise ReleaseError(f"duplicate image_id {iid}")
        seen.add(iid)
        if r.part not in PARTS:
            raise ReleaseError(f"{iid}: part {r.part!r} not in {PARTS}")
        mos = _fin(r.mos, f"{iid} mos")
        if not 0.0 <= mos <= 1.0:
            raise ReleaseError(f"{iid}: mos {mos} outside [0, 1]")
        if r.part == "50K":
            if r.dims is None or len(r.dims) != NUM_DIMENSIONS:
                raise ReleaseError(f"{iid}: 50K records need {NUM_DIMENSIONS} dims")
            for d in r.dims:
                if not 0.0 <= _fin(d, f"{iid} dims") <= 1.0:
                    raise ReleaseError(f"{iid}: dim score {d} outside [0, 1]")
        elif r.dims is not None:
            raise ReleaseError(f"{iid}: 58K records carry the overall score only (dims must be None)")
        ext = r.ext if r.ext.startswith(".") else "." + r.ext
        ext = ext.lower()
        if not re.match(r"^\.[a-z0-9]{1,5}$", ext):
            raise ReleaseError(f"{iid}: bad extension {r.ext!r}")
        if r.split is not None and r.split not in SPLITS:
            raise ReleaseError(f"{iid}: split {r.split!r} not in {SPLITS}")
        out.append((r, ext, frozen.get(iid) or r.split))
    if not out:
        raise ReleaseError("no records")
    given = {r.image_id: split for r, _ext, split in out if split is not None}
    splits = stratified_splits(
        ((r.image_id, f"{r.part}/{r.source}") for r, _ext, _split in out),
        spec.split_salt,
        spec.test_fraction,
        given,
    )
    recs = [_Rec(r, ext, splits[r.image_id]) for r, ext, _split in out]
    recs.sort(key=lambda x: x.r.image_id)
    return recs


# --------------------------------------------------------------------------- writer helpers


class _Tree:
    """Writes files under a root and remembers each file's sha256 (for SHA256SUMS)."""

    def __init__(self, root: Path):
        self.root = root
        self.sums: dict[str, str] = {}
        self._dirs: set[str] = set()
        self._root_str = os.fspath(root)

    def _mkparent(self, rel: str) -> Path:
        p = self.root / rel
        d = os.path.dirname(rel)
        if d not in self._dirs:
            p.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(d)
        return p

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._mkparent(rel).write_bytes(data)
        self.sums[rel] = hashlib.sha256(data).hexdigest()

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def write_jsonl(self, rel: str, rows: Iterable[dict]) -> None:
        self.write_text(rel, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def write_json(self, rel: str, obj) -> None:
        self.write_text(rel, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")

    def link(self, src: Path | str, rel: str, sha: str) -> None:
        # plain strings, not pathlib: 300k+ links per full release, pathlib parsing was a third of the cost
        d = os.path.dirname(rel)
        if d not in self._dirs:
            os.makedirs(os.path.join(self._root_str, d), exist_ok=True)
            self._dirs.add(d)
        dst = os.path.join(self._root_str, rel)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
        self.sums[rel] = sha

    def register(self, rel: str) -> None:
        h = hashlib.sha256()
        with (self.root / rel).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        self.sums[rel] = h.hexdigest()


def _csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
    return buf.getvalue()


_STAT_NAMES: tuple[tuple[str, ...], ...] = tuple(
    tuple(f"{k}_{st}" for st in DIM_STATS) for k in DIMENSION_KEYS
)
_NULL_DIMS: dict = dict.fromkeys(STAT_COLUMNS)


def _dims_dict(x: _Rec) -> dict:
    """The named per-dimension columns of one image (all null for the 58K part)."""
    r = x.r
    if r.dims is None and r.dim_psi is None and r.dim_mos is None:
        return dict(_NULL_DIMS)
    psi = r.dim_psi if r.dim_psi is not None else (r.dims if r.dim_mos is None else None)
    mos = r.dim_mos if r.dim_mos is not None else (r.dims if r.dim_psi is None else None)
    stats = (psi, r.psi_se, mos, r.dim_sd, r.dim_n, r.dim_ci)  # DIM_STATS order
    out: dict = {}
    for i, names in enumerate(_STAT_NAMES):
        for j, (name, values) in enumerate(zip(names, stats, strict=True)):
            v = None if values is None else values[i]
            out[name] = None if v is None else (int(v) if j == 4 else float(v))
    return out


# --------------------------------------------------------------------------- previous releases


def load_previous_release(release_dir: Path) -> PreviousRelease:
    """Read ``release.json`` + ``scores.csv`` (+ ``CHANGELOG.md``) of a written release."""
    release_dir = Path(release_dir)
    manifest = json.loads((release_dir / "release.json").read_text(encoding="utf-8"))
    splits: dict[str, str] = {}
    labels: dict[str, dict] = {}
    with (release_dir / "scores.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            iid = row["image_id"]
            splits[iid] = row["official_split"]
            cols = DIM_COLUMNS if DIM_COLUMNS[0] in row else LEGACY_DIM_COLUMNS
            dims = [float(row[c]) for c in cols] if row.get(cols[0]) else None
            labels[iid] = {
                "mos": float(row["score"] if "score" in row else row["mos"]),
                "dims": dims,
                "part": row["part"],
                "source": row["source"],
            }
    cl = release_dir / "CHANGELOG.md"
    return PreviousRelease(
        version=manifest["version"],
        splits=splits,
        labels=labels,
        split_salt=manifest.get("split_salt", ""),
        release_sha256=manifest.get("release_sha256", ""),
        changelog=cl.read_text(encoding="utf-8") if cl.is_file() else "",
    )


def _label_of(x: _Rec) -> dict:
    named = _dims_dict(x)
    return {
        "mos": float(x.r.mos),
        "dims": [named[c] for c in DIM_COLUMNS] if x.r.dims is not None else None,
        "part": x.r.part,
        "source": x.r.source,
    }


def _labels_differ(a: dict, b: dict) -> bool:
    if a["part"] != b["part"] or abs(a["mos"] - b["mos"]) > RELABEL_TOL:
        return True
    if (a["dims"] is None) != (b["dims"] is None):
        return True
    if a["dims"] is not None:
        return any(abs(u - v) > RELABEL_TOL for u, v in zip(a["dims"], b["dims"], strict=True))
    return False


def _diff(spec: ReleaseSpec, recs: list[_Rec]) -> dict:
    prev = spec.previous
    cur = {x.r.image_id: x for x in recs}
    if prev is None:
        return {
            "from": None,
            "to": spec.version,
            "added": sorted(cur),
            "removed": [],
            "relabelled": {},
            "split_moved": [],
            "counts": {"added": len(cur), "removed": 0, "relabelled": 0, "split_moved": 0},
            "suggested_bump": "initial",
        }
    added = sorted(i for i in cur if i not in prev.labels)
    removed = sorted(i for i in prev.labels if i not in cur)
    relabelled = {}
    for i in sorted(set(cur) & set(prev.labels)):
        new = _label_of(cur[i])
        if _labels_differ(prev.labels[i], new):
            relabelled[i] = {"old": prev.labels[i], "new": new}
    moved = sorted(i for i in set(cur) & set(prev.splits) if prev.splits[i] != cur[i].split)
    # TFDS meaning: records, labels or split membership changed -> major
    bump = "major" if removed or relabelled or moved or added else "minor_or_patch"
    return {
        "from": prev.version,
        "to": spec.version,
        "added": added,
        "removed": removed,
        "relabelled": relabelled,
        "split_moved": moved,
        "counts": {
            "added": len(added),
            "removed": len(removed),
            "relabelled": len(relabelled),
            "split_moved": len(moved),
        },
        "suggested_bump": bump,
    }


# --------------------------------------------------------------------------- parquet


def _score_kind(spec: ReleaseSpec, x: _Rec) -> str:
    if x.r.part == "58K":
        return "public_minmax"
    return "sureal_psi" if x.r.dim_psi is not None else "mos"


def _scalar_columns() -> list[tuple[str, str]]:
    """(name, dtype) of every scalar column of the tabular exports, in order."""
    return [
        ("image_id", "string"),
        ("source", "string"),
        ("part", "string"),
        ("score", "float64"),
        ("score_kind", "string"),
        ("rating_level", "string"),
        ("n_ratings", "int32"),
        ("score_std", "float64"),
        *[(c, "int32" if c.endswith("_n") else "float64") for c in STAT_COLUMNS],
    ]


def _scalar_row(spec: ReleaseSpec, x: _Rec) -> dict:
    r = x.r
    return {
        "image_id": r.image_id,
        "source": r.source,
        "part": r.part,
        "score": float(r.mos),
        "score_kind": _score_kind(spec, x),
        "rating_level": level_of(r.mos, spec.level_rule),
        "n_ratings": int(r.n_ratings),
        "score_std": None if r.mos_std is None else float(r.mos_std),
        **_dims_dict(x),
    }


def _hf_features() -> tuple[dict, list[tuple[str, str]]]:
    """(the ``huggingface`` schema metadata features, [(name, card dtype)])."""
    cols: list[tuple[str, str]] = [("image", "image"), *_scalar_columns()]
    feats = {}
    for name, dt in cols:
        feats[name] = {"_type": "Image"} if dt == "image" else {"dtype": dt, "_type": "Value"}
    return feats, cols


_PA_TYPES = {"string": "string", "float64": "float64", "int32": "int32"}


def _parquet_schema():
    import pyarrow as pa

    feats, _ = _hf_features()
    fields = [
        pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        *[pa.field(name, getattr(pa, _PA_TYPES[dt])()) for name, dt in _scalar_columns()],
    ]
    meta = {"huggingface": json.dumps({"info": {"features": feats}}, sort_keys=True)}
    return pa.schema(fields, metadata=meta)


def _shards(recs: list[_Rec], max_shard_bytes: int) -> list[list[_Rec]]:
    shards: list[list[_Rec]] = [[]]
    size = 0
    for x in recs:
        n = os.stat(x.r.image_path).st_size
        if shards[-1] and size + n > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(x)
        size += n
    return shards


def _write_parquet(
    table_rows: Mapping[str, dict],
    tree: _Tree,
    by_split: Mapping[str, list[_Rec]],
    *,
    verify: bool,
    max_shard_bytes: int,
    row_group_bytes: int = 64 << 20,
    row_group_rows: int = 4096,
) -> tuple[dict[str, str], dict[str, int]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    patterns: dict[str, str] = {}
    split_bytes: dict[str, int] = {}
    for split in SPLITS:
        recs = by_split.get(split) or []
        if not recs:
            continue
        shards = _shards(recs, max_shard_bytes)
        patterns[split] = f"data/{split}-*"
        total = 0
        for k, shard in enumerate(shards):
            rel = f"data/{split}-{k:05d}-of-{len(shards):05d}.parquet"
            path = tree._mkparent(rel)
            writer = pq.ParquetWriter(
                path,
                schema,
                compression="zstd",
                use_dictionary=["source", "part", "rating_level", "score_kind"],
                write_statistics=["score", "n_ratings"],
                data_page_version="1.0",
            )
            cols: dict[str, list] = defaultdict(list)
            nbytes = 0

            def flush(cols=cols, writer=writer):
                if cols["image"]:
                    writer.write_table(pa.Table.from_pydict(dict(cols), schema=schema))
                    cols.clear()

            for x in shard:
                r = x.r
                with open(r.image_path, "rb") as fh:
                    data = fh.read()
                if verify and hashlib.sha256(data).hexdigest() != r.image_id:
                    writer.close()
                    raise ReleaseError(f"{r.image_path}: bytes do not hash to image_id {r.image_id}")
                cols["image"].append({"bytes": data, "path": x.name})
                for name, value in table_rows[r.image_id].items():
                    cols[name].append(value)
                nbytes += len(data)
                total += len(data)
                if nbytes >= row_group_bytes or len(cols["image"]) >= row_group_rows:
                    flush()
                    nbytes = 0
            flush()
            writer.close()
            tree.register(rel)
        split_bytes[split] = total
    return patterns, split_bytes


# --------------------------------------------------------------------------- stats


def _hist(values: Sequence[float], bins: int = 50) -> list[int]:
    h = [0] * bins
    for v in values:
        h[min(bins - 1, max(0, int(v * bins)))] += 1
    return h


def _describe(values: Sequence[float], rule: str = "lower_inclusive") -> dict:
    n = len(values)
    if not n:
        return {"n": 0}
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / n
    return {
        "n": n,
        "mean": round(mean, 6),
        "std": round(math.sqrt(var), 6),
        "min": round(min(values), 6),
        "max": round(max(values), 6),
        "levels": dict(zip(LEVELS, _level_counts(values, rule), strict=True)),
    }


def _level_counts(values: Iterable[float], rule: str) -> list[int]:
    c = Counter(level_of(v, rule) for v in values)
    return [c.get(lv, 0) for lv in LEVELS]


def _stats(recs: list[_Rec], rule: str = "lower_inclusive") -> dict:
    overall = [float(x.r.mos) for x in recs]
    h = _hist(overall)
    per_source: dict[str, dict] = {}
    for src in sorted({x.r.source for x in recs}):
        vals = [float(x.r.mos) for x in recs if x.r.source == src]
        per_source[src] = _describe(vals, rule) | {
            "part": sorted({x.r.part for x in recs if x.r.source == src}),
            "hist_0.02": _hist(vals),
            "train": sum(1 for x in recs if x.r.source == src and x.split == "train"),
            "test": sum(1 for x in recs if x.r.source == src and x.split == "test"),
        }
    expert = [x for x in recs if x.r.dims is not None]
    per_dim = {}
    for d in DIMENSIONS:
        vals = [float(x.r.dims[d.index]) for x in expert]
        per_dim[d.key] = _describe(vals, rule) | {
            "name": d.name,
            "column": DIM_COLUMNS[d.index],
            "hist_0.02": _hist(vals),
        }
    per_part = {p: _describe([float(x.r.mos) for x in recs if x.r.part == p], rule) for p in PARTS}
    return {
        "n_images": len(recs),
        "overall": _describe(overall, rule)
        | {"hist_0.02": h, "max_bin_fraction": round(max(h) / len(recs), 6)},
        "per_part": per_part,
        "per_source": per_source,
        "per_dimension_50K": per_dim,
        "bins": "50 equal bins of width 0.02 over [0, 1]; the last bin includes 1.0",
    }


def _plots(tree: _Tree, stats: dict) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    def save(fig, rel):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
        plt.close(fig)
        tree.write_bytes(rel, buf.getvalue())

    with matplotlib.rc_context({"svg.hashsalt": "humanbeauty", "font.size": 8}):
        srcs = list(stats["per_source"])
        fig, ax = plt.subplots(figsize=(7, 3.5))
        tr = [stats["per_source"][s]["train"] for s in srcs]
        te = [stats["per_source"][s]["test"] for s in srcs]
        ax.bar(srcs, tr, label="train")
        ax.bar(srcs, te, bottom=tr, label="test")
        ax.set_title("Images per source and split")
        ax.legend()
        fig.autofmt_xdate(rotation=30)
        save(fig, "stats/sources_split.png")

        fig, ax = plt.subplots(figsize=(6, 3.5))
        width = 0.4
        for k, p in enumerate(PARTS):
            lv = stats["per_part"][p].get("levels", {})
            ax.bar(
                [i + (k - 0.5) * width for i in range(len(LEVELS))],
                [lv.get(x, 0) for x in LEVELS],
                width,
                label=p,
            )
        ax.set_xticks(range(len(LEVELS)), LEVELS)
        ax.set_title("Overall rating levels per part")
        ax.legend()
        save(fig, "stats/levels.png")

        fig, ax = plt.subplots(figsize=(7, 3.5))
        h = stats["overall"]["hist_0.02"]
        n = max(1, stats["n_images"])
        ax.bar([i * 0.02 + 0.01 for i in range(len(h))], [100 * c / n for c in h], width=0.018)
        ax.axhline(4.0, color="red", linewidth=0.8, linestyle="--")
        ax.set_xlabel("overall score")
        ax.set_ylabel("% of images")
        ax.set_title("Overall score distribution (0.02 bins)")
        save(fig, "stats/scores.png")

        fig, axes = plt.subplots(3, 4, figsize=(12, 7), sharey=True)
        for ax, d in zip(axes.flat, DIMENSIONS, strict=True):
            lv = stats["per_dimension_50K"][d.key].get("levels", {})
            ax.bar(range(len(LEVELS)), [lv.get(x, 0) for x in LEVELS])
            ax.set_xticks(range(len(LEVELS)), [x[:4] for x in LEVELS])
            ax.set_title(d.name, fontsize=7)
        fig.suptitle("Rating levels per dimension (50K)")
        fig.tight_layout()
        save(fig, "stats/dimensions_levels.png")

        fig, ax = plt.subplots(figsize=(7, 3.5))
        for s in srcs:
            hs = stats["per_source"][s]["hist_0.02"]
            tot = max(1, sum(hs))
            ax.plot([i * 0.02 + 0.01 for i in range(len(hs))], [100 * c / tot for c in hs], label=s)
        ax.set_xlabel("overall score")
        ax.set_ylabel("% of source")
        ax.set_title("Score distribution per source")
        ax.legend(fontsize=6)
        save(fig, "stats/sources_scores.png")


# --------------------------------------------------------------------------- the release


def _counts(recs: list[_Rec]) -> dict:
    per_part = Counter(x.r.part for x in recs)
    per_split = Counter(x.split for x in recs)
    per_source = Counter(x.r.source for x in recs)
    pps: dict[str, dict[str, int]] = {}
    for x in recs:
        pps.setdefault(x.r.part, dict.fromkeys(SPLITS, 0))[x.split] += 1
    pss: dict[str, dict[str, int]] = {}
    for x in recs:
        pss.setdefault(x.r.source, dict.fromkeys(SPLITS, 0))[x.split] += 1
    return {
        "total": len(recs),
        "per_part": {p: per_part[p] for p in PARTS if per_part[p]},
        "per_split": {s: per_split[s] for s in SPLITS},
        "per_source": dict(sorted(per_source.items())),
        "per_part_split": {p: pps[p] for p in PARTS if p in pps},
        "per_source_split": dict(sorted(pss.items())),
    }


def write_release(
    spec: ReleaseSpec,
    records: Iterable[ReleaseRecord],
    out_dir: Path,
    *,
    verify_image_hashes: bool = True,
    max_shard_bytes: int = 500 << 20,
    plots: bool = True,
    progress: Callable[[str, float], None] | None = None,
    ratings: RatingsTable | None = None,
) -> ReleaseResult:
    """Write the whole release into ``out_dir`` (must not exist: releases are write-once).

    ``ratings`` (the raw ratings of the 50K part) adds ``ratings/`` and the figures computed from them
    (raters, ratings per image, reliability) to the card, Croissant and release.json.

    Built in ``<out_dir>.partial`` and renamed at the end, so a crash never leaves a half release under
    the final name. ``progress(stage, fraction)`` is called between stages (for Celery ``update_state``).
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists: releases are immutable (write a new version)")
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    stages = 11

    def stage(name: str, k: int, t0: float) -> float:
        t1 = time.perf_counter()
        timings[name] = round(t1 - t0, 4)
        if progress:
            progress(name, k / stages)
        return t1

    t = time.perf_counter()
    recs = _validate(spec, records)
    rule = spec.level_rule
    rtab = _ratings_frame(ratings, {x.r.image_id for x in recs if x.r.part == "50K"})
    _check_minimum(spec, recs, rtab)
    by_split: dict[str, list[_Rec]] = {s: [x for x in recs if x.split == s] for s in SPLITS}
    by_part: dict[str, list[_Rec]] = {p: [x for x in recs if x.r.part == p] for p in PARTS}
    t = stage("validate", 1, t)

    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tree = _Tree(tmp)

    # 1. images: canonical copy + hard links for every per-format folder layout
    tmp_str = os.fspath(tmp)
    for x in recs:
        iid, name = x.r.image_id, x.name
        canon = f"images/{name}"
        tree.link(x.r.image_path, canon, iid)
        src = os.path.join(tmp_str, canon)
        tree.link(src, f"imagefolder/{x.split}/images/{name}", iid)
        tree.link(src, f"{HAE_ROOT}/{PART_DIRS[x.r.part]}/images/{name}", iid)
        if x.split == "test":
            tree.link(src, f"{ARTIMUSE_DIR}/images/{name}", iid)
    t = stage("link_images", 2, t)

    # 2. HF imagefolder metadata (the main and MOS columns; every statistic is in scores.csv and Parquet)
    table_rows = {x.r.image_id: _scalar_row(spec, x) for x in recs}  # computed once for every table
    for split in SPLITS:
        rows = [
            {"file_name": f"images/{x.name}", **{c: table_rows[x.r.image_id][c] for c in IMAGEFOLDER_COLUMNS}}
            for x in by_split[split]
        ]
        if rows:
            tree.write_jsonl(f"imagefolder/{split}/metadata.jsonl", rows)
    t = stage("imagefolder", 3, t)

    # 3. HumanAesExpert layout (upstream key names: image_name, score, text_level)
    for part in PARTS:
        rows = []
        for x in by_part[part]:
            if part == "58K":
                rows.append(
                    {
                        "image_name": x.name,
                        "score": float(x.r.mos),
                        "text_level": level_of(x.r.mos, rule),
                        "source": x.r.source,
                    }
                )
            else:
                rows.append(
                    {"image_name": x.name, "score": [float(v) for v in x.r.dims], "source": x.r.source}
                )
        if rows:
            tree.write_jsonl(f"{HAE_ROOT}/{PART_DIRS[part]}/label.jsonl", rows)
    for split in SPLITS:
        rows = []
        for part in PARTS:
            for x in by_part[part]:
                if x.split != split:
                    continue
                row: dict = {"image_name": f"{PART_DIRS[part]}/images/{x.name}"}
                if part == "58K":
                    row |= {"score": float(x.r.mos), "text_level": level_of(x.r.mos, rule)}
                else:
                    row |= {"score": [float(v) for v in x.r.dims]}
                row |= {"source": x.r.source, "is_expert": part == "50K"}
                rows.append(row)
        tree.write_jsonl(f"{HAE_ROOT}/{split}_label.jsonl", rows)
    t = stage("humanaesexpert", 4, t)

    # 4. ms-swift messages + QA pairs
    for split in SPLITS:
        swift_rows, qa_rows = [], []
        for x in by_split[split]:
            r = x.r
            img = f"{HAE_ROOT}/{PART_DIRS[r.part]}/images/{x.name}"
            expert = r.part == "50K"
            pairs = []
            if expert:
                pairs.append(("expert", question_for(r.image_id, True), _expert_answer(r.dims, rule)))
            pairs.append(("overall", question_for(r.image_id, False), _overall_answer(r.mos, rule)))
            kind, q, a = pairs[0]
            swift_rows.append(
                {
                    "messages": [
                        {"role": "user", "content": "<image>\n" + q},
                        {"role": "assistant", "content": a},
                    ],
                    "images": [img],
                }
            )
            for kind, q, a in pairs:
                qa_rows.append(
                    {
                        "image": img,
                        "image_id": r.image_id,
                        "part": r.part,
                        "kind": kind,
                        "is_expert": kind == "expert",
                        "question": q,
                        "answer": a,
                    }
                )
        tree.write_jsonl(f"swift/{split}.jsonl", swift_rows)
        tree.write_jsonl(f"qa/{split}.jsonl", qa_rows)
    t = stage("swift_qa", 5, t)

    # 5. scores.csv (named columns), pyiqa, ArtiMuse
    scalar_names = [name for name, _dt in _scalar_columns()]
    header = ["image_name", *scalar_names[:7], "official_split", *scalar_names[7:]]
    tree.write_text(
        "scores.csv",
        _csv_text(header, _scores_rows(recs, table_rows)),
    )
    tree.write_text(
        PYIQA_CSV,
        _csv_text(["image_name", "mos", "official_split"], ([x.name, float(x.r.mos), x.split] for x in recs)),
    )
    tree.write_text(
        f"{ARTIMUSE_DIR}/test.json",
        json.dumps([{"image": x.name, "gt_score": float(x.r.mos)} for x in by_split["test"]], indent=1)
        + "\n",
    )
    t = stage("csv_pyiqa_artimuse", 6, t)

    # 6. raw ratings and raters (Parquet + CSV)
    rating_facts = _write_ratings(tree, rtab) if rtab is not None else None
    t = stage("ratings", 7, t)

    # 7. Parquet (embedded bytes; verifies image_id while reading)
    patterns, split_bytes = _write_parquet(
        table_rows, tree, by_split, verify=verify_image_hashes, max_shard_bytes=max_shard_bytes
    )
    t = stage("parquet", 8, t)

    # 8. stats + plots
    stats = _stats(recs, rule)
    stats["counts"] = _counts(recs)
    tree.write_json("stats/stats.json", stats)
    if plots:
        _plots(tree, stats)
    t = stage("stats_plots", 9, t)

    # 9. diff + changelog
    diff = _diff(spec, recs)
    tree.write_json("diff.json", diff)
    c = diff["counts"]
    entry = (
        f"## {spec.version} ({spec.created_at})\n\n"
        f"- from: {diff['from'] or 'initial release'}\n"
        f"- images: {len(recs)} ({', '.join(f'{p} {n}' for p, n in stats['counts']['per_part'].items())})\n"
        f"- added {c['added']}, removed {c['removed']}, relabelled {c['relabelled']}, "
        f"split moved {c['split_moved']}\n"
        f"- split salt `{spec.split_salt}`, test fraction {spec.test_fraction}, level cuts {spec.level_rule}\n"
    )
    if spec.changelog_notes:
        entry += f"\n{spec.changelog_notes.strip()}\n"
    old = spec.previous.changelog if spec.previous else ""
    old_body = old.split("\n", 2)[2] if old.startswith("# Changelog\n") else old
    tree.write_text(
        "CHANGELOG.md", "# Changelog\n\n" + entry + ("\n" + old_body.lstrip("\n") if old_body else "")
    )
    t = stage("diff_changelog", 10, t)

    # 10. facts, card + croissant: every figure comes from the records and ratings written above
    counts = stats["counts"]
    facts = _facts(spec, recs, counts, rating_facts)
    _feats, card_features = _hf_features()
    tree.write_text(
        "README.md",
        card_mod.render_card(
            version=spec.version,
            license_id=spec.license,
            card=spec.card,
            created_at=spec.created_at,
            features=card_features,
            split_counts={s: len(by_split[s]) for s in patterns},
            split_bytes=split_bytes,
            data_files=patterns,
            counts=counts,
            aggregation=spec.aggregation,
            split_salt=spec.split_salt,
            test_fraction=spec.test_fraction,
            detector=spec.detector,
            stats_summary={"max_bin_fraction": stats["overall"]["max_bin_fraction"]},
            facts=facts,
        ),
    )
    exts = sorted({x.ext for x in recs})
    sc_type = {"string": "sc:Text", "float64": "sc:Float", "int32": "sc:Integer"}
    score_cols = [
        ("image_name", "sc:Text"),
        *[(name, sc_type[dt]) for name, dt in _scalar_columns()],
        ("official_split", "sc:Text"),
    ]
    fobjs = [("scores.csv", "text/csv", tree.sums["scores.csv"])]
    fobjs += [(p, "application/x-parquet", tree.sums[p]) for p in sorted(tree.sums) if p.startswith("data/")]
    extra_sets = []
    if rtab is not None:
        fobjs += [
            (RATINGS_CSV, "text/csv", tree.sums[RATINGS_CSV]),
            (RATERS_CSV, "text/csv", tree.sums[RATERS_CSV]),
        ]
        fobjs += [
            (RATINGS_PARQUET, "application/x-parquet", tree.sums[RATINGS_PARQUET]),
            (RATERS_PARQUET, "application/x-parquet", tree.sums[RATERS_PARQUET]),
        ]
        extra_sets = [
            ("ratings", RATINGS_CSV, [(n, sc_type[dt]) for n, dt in _ratings_columns()], _RATINGS_DOC),
            ("raters", RATERS_CSV, [(n, sc_type[dt]) for n, dt in _raters_columns()], _RATERS_DOC),
        ]
    croissant = card_mod.render_croissant(
        name=spec.name,
        version=spec.version,
        license_id=spec.license,
        card=spec.card,
        created_at=spec.created_at,
        file_objects=fobjs,
        image_glob="images/*" if len(exts) > 1 else f"images/*{exts[0]}",
        image_format=_MIME.get(exts[0], "image/jpeg") if len(exts) == 1 else "image/jpeg",
        score_columns=score_cols,
        split_salt=spec.split_salt,
        detector=spec.detector,
        aggregation=spec.aggregation,
        facts=facts,
        extra_record_sets=extra_sets,
    )
    tree.write_json("croissant.json", croissant)
    t = stage("card_croissant", 11, t)

    # 11. manifest: release_sha256 over the sorted SHA256SUMS lines (without release.json)
    lines = sorted(f"{h}  {p}\n" for p, h in tree.sums.items())
    release_sha256 = hashlib.sha256("".join(lines).encode()).hexdigest()
    manifest = {
        "name": spec.name,
        "version": spec.version,
        "created_at": spec.created_at,
        "standard_key": spec.standard_key,
        "split_salt": spec.split_salt,
        "test_fraction": spec.test_fraction,
        "split_rule": SPLIT_RULE,
        "split_upstream_difference": "the public HumanAesExpert code draws an unseeded random 90/10 split per "
        "source; this release's split is seeded by the salt, stratified per (part, source) and frozen across "
        "versions",
        "level_rule": {
            "rule": spec.level_rule,
            "cuts": list(LEVEL_CUTS),
            "this_release": LEVEL_RULES[spec.level_rule],
            "options": dict(LEVEL_RULES),
        },
        "aggregation": dict(spec.aggregation),
        "normalisation": dict(spec.normalisation),
        "detector": spec.detector,
        "detector_params": dict(spec.detector_params),
        "license": spec.license,
        "previous_version": spec.previous.version if spec.previous else None,
        "previous_release_sha256": spec.previous.release_sha256 if spec.previous else None,
        "counts": counts,
        "facts": facts,
        "columns": _column_doc(),
        "formats": {
            "parquet": "data/",
            "imagefolder": "imagefolder/",
            "humanaesexpert": f"{HAE_ROOT}/",
            "swift": "swift/ (ROOT_IMAGE_DIR=<release root>)",
            "qa": "qa/",
            "pyiqa": PYIQA_CSV + " (dataroot_target=<release root>/images)",
            "artimuse": ARTIMUSE_DIR + "/",
            "scores_csv": "scores.csv",
            "ratings": f"{RATINGS_PARQUET}, {RATINGS_CSV}" if rtab is not None else None,
            "raters": f"{RATERS_PARQUET}, {RATERS_CSV}" if rtab is not None else None,
            "croissant": "croissant.json",
            "card": "README.md",
        },
        "n_files": len(tree.sums) + 2,
        "release_sha256": release_sha256,
    }
    tree.write_json("release.json", manifest)
    lines = sorted(f"{h}  {p}\n" for p, h in tree.sums.items())
    (tmp / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, out_dir)
    stage("manifest", 11, t)
    timings["total"] = round(time.perf_counter() - t_all, 4)
    return ReleaseResult(out_dir, release_sha256, manifest, diff, timings, len(tree.sums) + 1)


# --------------------------------------------------------------------------- tables, ratings, facts


def _scores_rows(recs: list[_Rec], table_rows: Mapping[str, dict]) -> Iterator[list]:
    for x in recs:
        values = list(table_rows[x.r.image_id].values())
        yield [x.name, *values[:7], x.split, *values[7:]]


def _column_doc() -> dict:
    """Every tabular column name -> meaning, and how HumanAesExpert's upstream names map to them."""
    doc = {
        "score": "main overall score in [0, 1]: SUREAL psi of `overall` (clipped to [0, 1]) for 50K, the "
        "per-source min-max normalised public score for 58K",
        "score_kind": "sureal_psi | mos | public_minmax: what `score` and the HumanAesExpert labels are",
        "score_std": "sample SD of the raters' overall scores (50K)",
        "n_ratings": "ratings of the image (50K)",
        "rating_level": "level of `score` under the release's level rule",
    }
    for d in DIMENSIONS:
        doc[f"{d.key}_psi"] = f"{d.name}: SUREAL psi (main score, unclipped)"
        doc[f"{d.key}_psi_se"] = f"{d.name}: standard error of psi"
        doc[f"{d.key}_mos"] = f"{d.name}: plain mean of the raters' scores"
        doc[f"{d.key}_sd"] = f"{d.name}: sample SD of the raters' scores"
        doc[f"{d.key}_n"] = f"{d.name}: raters who scored this dimension"
        doc[f"{d.key}_ci95"] = f"{d.name}: half-width of the 95 % Student-t CI of the MOS"
    return {
        "tabular": doc,
        "humanaesexpert": {
            "image_name": "image path (upstream name)",
            "score": "50K: list of the 12 main scores in this order: "
            + ", ".join(f"{d.index}={d.key}" for d in DIMENSIONS)
            + "; 58K: the overall score",
            "text_level": "58K: level of `score`",
        },
    }


RATINGS_PARQUET = "ratings/ratings.parquet"
RATINGS_CSV = "ratings/ratings.csv"
RATERS_PARQUET = "ratings/raters.parquet"
RATERS_CSV = "ratings/raters.csv"
_RATINGS_DOC = (
    "One row per rating of a 50K image: image_id, pseudonymous rater id (salted per release), the 12 "
    "scores on [0, 1] named by dimension key (empty: the rater could not judge), dwell_ms, campaign, day (UTC)"
)
_RATERS_DOC = (
    "One row per pseudonymous rater: number of ratings in this release, SUREAL bias and inconsistency per "
    "dimension (from the aggregation run that produced psi); no personal data"
)


def _ratings_columns() -> list[tuple[str, str]]:
    return [
        ("image_id", "string"),
        ("rater", "string"),
        *[(k, "float64") for k in DIMENSION_KEYS],
        ("dwell_ms", "int32"),
        ("campaign", "string"),
        ("day", "string"),
    ]


def _raters_columns() -> list[tuple[str, str]]:
    return [
        ("rater", "string"),
        ("n_ratings", "int32"),
        *[(f"{k}_bias", "float64") for k in DIMENSION_KEYS],
        *[(f"{k}_inconsistency", "float64") for k in DIMENSION_KEYS],
    ]


@dataclass
class _RatingsFrame:
    image_id: list[str]
    rater: list[str]
    scores: object  # numpy [R, 12]
    dwell_ms: list[int | None]
    campaign: list[str]
    day: list[str]
    raters: Mapping[str, Mapping[str, Sequence[float | None]]]


def _ratings_frame(ratings: RatingsTable | None, images_50k: set[str]) -> _RatingsFrame | None:
    """Validate the raw ratings and sort them by (image_id, rater)."""
    if ratings is None:
        return None
    import numpy as np

    n = len(ratings.image_id)
    scores = (
        np.asarray(ratings.scores, dtype=np.float64).reshape(n, NUM_DIMENSIONS) if n else np.zeros((0, 12))
    )
    lengths = {
        len(ratings.rater),
        len(ratings.dwell_ms),
        len(ratings.campaign),
        len(ratings.day),
        scores.shape[0],
    }
    if lengths != {n}:
        raise ReleaseError("ratings: columns of different lengths")
    unknown = set(ratings.image_id) - images_50k
    if unknown:
        raise ReleaseError(f"ratings: {len(unknown)} rows for images that are not in the 50K part")
    finite = scores[~np.isnan(scores)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ReleaseError("ratings: scores outside [0, 1]")
    # stable sort by (image_id, rater) in numpy (code-point order, as Python's str comparison)
    order = np.lexsort(
        (np.asarray(ratings.rater, dtype=str), np.asarray(ratings.image_id, dtype=str))
    ).tolist()
    return _RatingsFrame(
        image_id=[ratings.image_id[i] for i in order],
        rater=[ratings.rater[i] for i in order],
        scores=scores[order] if n else scores,
        dwell_ms=[ratings.dwell_ms[i] for i in order],
        campaign=[ratings.campaign[i] for i in order],
        day=[ratings.day[i] for i in order],
        raters=ratings.raters,
    )


def _check_minimum(spec: ReleaseSpec, recs: list[_Rec], rtab: _RatingsFrame | None) -> None:
    """No 50K image below the standard's minimum: counted in the raw ratings when given."""
    if not spec.min_ratings:
        return
    per_image = Counter(rtab.image_id) if rtab is not None else None
    for x in recs:
        if x.r.part != "50K":
            continue
        n = per_image[x.r.image_id] if per_image is not None else x.r.n_ratings
        if n < spec.min_ratings:
            raise ReleaseError(
                f"{x.r.image_id}: {n} ratings, below the standard's minimum of {spec.min_ratings}"
            )


def _table(columns: list[tuple[str, str]], data: dict):
    import pyarrow as pa

    schema = pa.schema([pa.field(n, getattr(pa, _PA_TYPES[dt])()) for n, dt in columns])
    return pa.Table.from_pydict({n: data[n] for n, _dt in columns}, schema=schema)


def _write_table(tree: _Tree, table, parquet_rel: str, csv_rel: str) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = tree._mkparent(parquet_rel)
    pq.write_table(table, path, compression="zstd", data_page_version="1.0", row_group_size=1 << 17)
    tree.register(parquet_rel)
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=True, quoting_style="needed"))
    tree.write_bytes(csv_rel, buf.getvalue())


def _write_ratings(tree: _Tree, rtab: _RatingsFrame) -> dict:
    """ratings/{ratings,raters}.{parquet,csv} and the figures computed from the raw ratings."""
    import numpy as np
    import pyarrow as pa

    from annotation.aggregation import reliability_report

    scores = rtab.scores
    data: dict = {"image_id": rtab.image_id, "rater": rtab.rater}
    for j, k in enumerate(DIMENSION_KEYS):
        col = np.ascontiguousarray(scores[:, j])
        data[k] = pa.array(col, type=pa.float64(), mask=np.isnan(col))  # NaN ("can't judge") -> null
    data |= {"dwell_ms": rtab.dwell_ms, "campaign": rtab.campaign, "day": rtab.day}
    _write_table(tree, _table(_ratings_columns(), data), RATINGS_PARQUET, RATINGS_CSV)

    per_rater = Counter(rtab.rater)
    raters = sorted(per_rater)
    rdata: dict = {"rater": raters, "n_ratings": [per_rater[r] for r in raters]}
    for kind, label in (("bias", "bias"), ("inconsistency", "inconsistency")):
        for j, k in enumerate(DIMENSION_KEYS):
            vals = []
            for r in raters:
                v = (rtab.raters.get(r) or {}).get(kind)
                x = None if not v or v[j] is None else float(v[j])
                vals.append(x if x is None or math.isfinite(x) else None)
            rdata[f"{k}_{label}"] = vals
    _write_table(tree, _table(_raters_columns(), rdata), RATERS_PARQUET, RATERS_CSV)

    per_image = Counter(rtab.image_id)
    counts = sorted(per_image.values())
    if rtab.image_id:
        images = {iid: i for i, iid in enumerate(sorted(per_image))}
        rater_idx = {r: i for i, r in enumerate(raters)}
        img = np.fromiter((images[i] for i in rtab.image_id), np.int64, len(rtab.image_id))
        rat = np.fromiter((rater_idx[r] for r in rtab.rater), np.int64, len(rtab.rater))
        reliability = reliability_report(img, rat, scores, n_splits=20, rng=0, dimension_keys=DIMENSION_KEYS)
    else:
        reliability = {}
    return {
        "n_ratings": len(rtab.image_id),
        "n_raters": len(raters),
        "n_images_rated": len(per_image),
        "ratings_per_image": {
            "min": counts[0] if counts else 0,
            "median": float(np.median(counts)) if counts else 0,
            "max": counts[-1] if counts else 0,
        },
        "ratings_per_rater": {
            "min": min(per_rater.values()) if per_rater else 0,
            "median": float(np.median(list(per_rater.values()))) if per_rater else 0,
            "max": max(per_rater.values()) if per_rater else 0,
        },
        "reliability": {
            k: {
                m: (None if v.get(m) is None else round(v[m], 4))
                for m in ("split_half_srcc", "spearman_brown", "icc_1k", "icc_1_1")
            }
            | {"n_images": v.get("n_images"), "n_ratings": v.get("n_ratings")}
            for k, v in reliability.items()
        },
        "reliability_method": "split-half SRCC: mean over 20 random splits of each image's raters (seed 0), "
        "Spearman-Brown 2r/(1+r); ICC(1,k) and ICC(1,1): one-way random effects, unbalanced",
    }


def _facts(spec: ReleaseSpec, recs: list[_Rec], counts: dict, rating_facts: dict | None) -> dict:
    """Everything the card, Croissant and release.json state about the data, computed from it."""
    n50 = [x for x in recs if x.r.part == "50K"]
    kinds = Counter(_score_kind(spec, x) for x in recs)
    return {
        "images": counts["total"],
        "images_per_part": counts["per_part"],
        "images_per_part_split": counts["per_part_split"],
        "images_per_source_split": counts["per_source_split"],
        "score_kinds": dict(sorted(kinds.items())),
        "min_ratings": spec.min_ratings,
        "ratings": rating_facts,
        "images_50k_without_raw_ratings": len(n50) if rating_facts is None else 0,
        "qualification": dict(spec.qualification),
        "detector": spec.detector,
        "detector_params": dict(spec.detector_params),
        "level_rule": spec.level_rule,
        "split_rule": SPLIT_RULE,
        "dimension_names": [[d.key, d.name] for d in DIMENSIONS],
    }
