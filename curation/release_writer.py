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
import functools
import hashlib
import io
import json
import math
import operator
import os
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from annotation.standards import artimuse as artimuse_standard
from annotation.standards.humanbeauty import (
    DIMENSION_KEYS,
    DIMENSIONS,
    EXPERT_QUESTIONS,
    LEVEL_CUTS,
    LEVELS,
    NUM_DIMENSIONS,
    OVERALL_QUESTIONS,
    STANDARD_KEY,
)

__all__ = [
    "ALL_PARTS",
    "DIM_COLUMNS",
    "DIM_STATS",
    "LEVEL_RULES",
    "PARTS",
    "RATED_PART",
    "SPLITS",
    "STANDARD_LAYOUTS",
    "ExportContext",
    "PreviousRelease",
    "RatingsTable",
    "ReleaseError",
    "ReleaseRecord",
    "ReleaseResult",
    "ReleaseSpec",
    "assign_split",
    "export_context",
    "level_of",
    "load_previous_release",
    "question_for",
    "stratified_splits",
    "write_release",
]

SPLITS: tuple[str, ...] = ("train", "test")
PARTS: tuple[str, ...] = ("50K", "58K")
# A release of another standard has one part: every image rated on that standard's dimensions.
RATED_PART = "std"
ALL_PARTS: tuple[str, ...] = (*PARTS, RATED_PART)
# The release layout of each standard (the standard spec module's ``RELEASE_LAYOUT``): which exporters
# (``curation.exporters.LAYOUTS``) write its releases. A standard not listed here has no release layout.
STANDARD_LAYOUTS: dict[str, str] = {STANDARD_KEY: "humanbeauty", artimuse_standard.KEY: "artimuse"}
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
    comments: Sequence[Mapping[str, str]] | None = None  # per rating {dimension key: text} (other layouts)


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
    layout: str = "humanbeauty"  # key of curation.exporters.LAYOUTS
    # Other layouts: the standard's dimensions in its order, (key, name), and the overall one's key.
    dimensions: tuple[tuple[str, str], ...] = ()
    overall_key: str = ""

    @property
    def n_dims(self) -> int:
        return len(self.dimensions) if self.layout != "humanbeauty" else NUM_DIMENSIONS

    @property
    def parts(self) -> tuple[str, ...]:
        return PARTS if self.layout == "humanbeauty" else (RATED_PART,)

    @property
    def rated_part(self) -> str:
        """The part whose images carry every dimension and raw ratings."""
        return "50K" if self.layout == "humanbeauty" else RATED_PART


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


def question_for(image_id: str, expert: bool) -> str:
    """Deterministic paraphrase choice from the image id."""
    qs = EXPERT_QUESTIONS if expert else OVERALL_QUESTIONS
    return qs[int(image_id[:8], 16) % len(qs)]


# --------------------------------------------------------------------------- validation


class _Rec:
    """A validated record with its extension, split and file name (a slotted class: 108k of them)."""

    __slots__ = ("ext", "name", "r", "split")

    def __init__(self, r: ReleaseRecord, ext: str, split: str):
        self.r, self.ext, self.split = r, ext, split
        self.name = r.image_id + ext


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
    parts, rated, n_dims = spec.parts, spec.rated_part, spec.n_dims
    if spec.layout != "humanbeauty" and not n_dims:
        raise ReleaseError(f"layout {spec.layout!r} needs the standard's dimensions")
    out: list[tuple[ReleaseRecord, str, str | None]] = []
    seen: set[str] = set()
    exts: dict[str, str] = {}  # checked extensions
    for r in records:
        iid = r.image_id
        if not isinstance(iid, str) or not _HEX64.match(iid):
            raise ReleaseError(f"image_id {iid!r} is not a lowercase sha256 hex digest")
        if iid in seen:
            raise ReleaseError(f"duplicate image_id {iid}")
        seen.add(iid)
        if r.part not in parts:
            raise ReleaseError(f"{iid}: part {r.part!r} not in {parts}")
        mos = _fin(r.mos, f"{iid} mos")
        if not 0.0 <= mos <= 1.0:
            raise ReleaseError(f"{iid}: mos {mos} outside [0, 1]")
        if r.part == rated:
            if r.dims is None or len(r.dims) != n_dims:
                raise ReleaseError(f"{iid}: {rated} records need {n_dims} dims")
            try:
                fine = all(0.0 <= d <= 1.0 for d in r.dims)  # False for NaN and infinities too
            except TypeError:
                fine = False
            if not fine:  # the slow path names the problem
                for d in r.dims:
                    if not 0.0 <= _fin(d, f"{iid} dims") <= 1.0:
                        raise ReleaseError(f"{iid}: dim score {d} outside [0, 1]")
        elif r.dims is not None:
            raise ReleaseError(f"{iid}: 58K records carry the overall score only (dims must be None)")
        ext = exts.get(r.ext)
        if ext is None:
            ext = r.ext if r.ext.startswith(".") else "." + r.ext
            ext = ext.lower()
            if not re.match(r"^\.[a-z0-9]{1,5}$", ext):
                raise ReleaseError(f"{iid}: bad extension {r.ext!r}")
            exts[r.ext] = ext
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


# --------------------------------------------------------------------------- columnar encoding
#
# Design: the release's tables are written column by column. Every value of a column is encoded once (JSON
# text, CSV text) and the rows are then put together with one ``%`` format per row, instead of a dict per
# row through ``json.dumps``/``csv.writer``. Float and int columns are encoded with one ``repr`` of the
# whole list (C speed; ``repr`` of a float is what ``json.dumps`` and the old CSV code wrote), so the bytes
# are exactly those of the per-row writers.


def _num_tokens(col: Sequence[float | int | None], null: str, *, as_json: bool = True) -> list[str]:
    """Text of each number of ``col`` (``null`` for None): ``repr``, which is what ``json.dumps`` writes
    for finite numbers; non-finite floats as ``json.dumps`` (NaN, Infinity) or, in CSV, ``repr`` (nan)."""
    if not col:
        return []
    text = repr(list(col))[1:-1]
    if "n" in text.replace("None", ""):  # nan / inf somewhere: value by value
        enc = json.dumps if as_json else repr
        return [null if v is None else enc(v) for v in col]
    toks = text.split(", ")
    if null != "None" and "None" in text:
        toks = [null if t == "None" else t for t in toks]
    return toks


def _str_tokens(col: Sequence[str | None], enc: Callable[[str], str], null: str) -> list[str]:
    """Encoded text of each string of ``col`` (encoded once per distinct value)."""
    cache: dict = {None: null}
    out = []
    for v in col:
        t = cache.get(v)
        if t is None:
            t = cache[v] = enc(v)
        out.append(t)
    return out


def _json_str(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)


def _csv_str(v: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([v, ""])  # two fields: an empty string is not quoted
    return buf.getvalue()[:-2]


class _Columns:
    """The scalar columns of every record (:func:`_scalar_columns` order, release order), with their JSON
    and CSV texts computed once per column on first use."""

    def __init__(self, spec: ReleaseSpec, recs: list[_Rec]):
        self.n = len(recs)
        self.data: dict[str, list] = _scalar_data(spec, recs)
        self.dtypes = dict(_scalar_columns())
        self._json: dict[str, list[str]] = {}
        self._csv: dict[str, list[str]] = {}

    def json(self, name: str) -> list[str]:
        out = self._json.get(name)
        if out is None:
            col = self.data[name]
            if self.dtypes.get(name, "string") == "string":
                out = _str_tokens(col, _json_str, "null")
            else:
                out = _num_tokens(col, "null")
            self._json[name] = out
        return out

    def csv(self, name: str) -> list[str]:
        out = self._csv.get(name)
        if out is None:
            col = self.data[name]
            if self.dtypes.get(name, "string") == "string":
                out = _str_tokens(col, _csv_str, "")
            else:
                out = _num_tokens(col, "", as_json=False)
            self._csv[name] = out
        return out


def _level_index(values: Sequence[float], rule: str) -> list[int]:
    """Index into LEVELS of :func:`level_of` for many finite scores at once (same cuts, same side)."""
    import numpy as np

    if not len(values):
        return []
    side = "left" if rule == "upper_inclusive" else "right"
    cuts = np.asarray(LEVEL_CUTS, dtype=np.float64)
    return np.searchsorted(cuts, np.asarray(values, dtype=np.float64), side).tolist()


def _levels(values: Sequence[float], rule: str) -> list[str]:
    return [LEVELS[i] for i in _level_index(values, rule)]


def _scalar_data(spec: ReleaseSpec, recs: list[_Rec]) -> dict[str, list]:
    """Column name -> values (None: null) of :func:`_scalar_columns`, in release order."""
    import numpy as np

    n = len(recs)
    rs = [x.r for x in recs]
    data: dict[str, list] = {
        "image_id": [r.image_id for r in rs],
        "source": [r.source for r in rs],
        "part": [r.part for r in rs],
        "score": [float(r.mos) for r in rs],
        "score_kind": [_score_kind(spec, x) for x in recs],
    }
    data["rating_level"] = _levels(data["score"], spec.level_rule)
    data["n_ratings"] = [int(r.n_ratings) for r in rs]
    data["score_std"] = [None if r.mos_std is None else float(r.mos_std) for r in rs]
    # per statistic: each record's tuple (or None), as _dims_dict picks them
    stats: list[list] = [[], [], [], [], [], []]  # DIM_STATS order
    for r in rs:
        if r.dims is None and r.dim_psi is None and r.dim_mos is None:
            for s in stats:
                s.append(None)
            continue
        psi = r.dim_psi if r.dim_psi is not None else (r.dims if r.dim_mos is None else None)
        mos = r.dim_mos if r.dim_mos is not None else (r.dims if r.dim_psi is None else None)
        for s, v in zip(stats, (psi, r.psi_se, mos, r.dim_sd, r.dim_n, r.dim_ci), strict=True):
            s.append(v)
    for j, (st, rows) in enumerate(zip(DIM_STATS, stats, strict=True)):
        have = [i for i, v in enumerate(rows) if v is not None]
        vals = [rows[i] for i in have]
        try:
            arr = np.asarray(vals, dtype=np.int64 if j == 4 else np.float64)
            ok = arr.shape == (len(have), NUM_DIMENSIONS)
        except (TypeError, ValueError):  # a None inside a tuple: the per-value path below
            ok = False
        for d, key in enumerate(DIMENSION_KEYS):
            if ok:
                col = np.full(n, None, dtype=object)
                col[have] = arr[:, d].tolist()
                data[f"{key}_{st}"] = col.tolist()
                continue
            out: list = [None] * n
            for i, v in zip(have, vals, strict=True):
                x = v[d]
                out[i] = None if x is None else (int(x) if j == 4 else float(x))
            data[f"{key}_{st}"] = out
    return data


def _jsonl(fmt: str, columns: Sequence[Sequence[str]]) -> str:
    """Rows of ``fmt % (one token per column)``, each ending in a newline."""
    return "".join([fmt % t for t in zip(*columns, strict=True)])


def _json_key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False).replace("%", "%%")


# --------------------------------------------------------------------------- previous releases


def load_previous_release(release_dir: Path) -> PreviousRelease:
    """Read ``release.json`` + ``scores.csv`` (+ ``CHANGELOG.md``) of a written release."""
    release_dir = Path(release_dir)
    manifest = json.loads((release_dir / "release.json").read_text(encoding="utf-8"))
    splits: dict[str, str] = {}
    labels: dict[str, dict] = {}
    # another standard's release names its dimensions in release.json ("dimension_keys")
    named = tuple(f"{k}_score" for k in manifest.get("dimension_keys") or ())
    with (release_dir / "scores.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            iid = row["image_id"]
            splits[iid] = row["official_split"]
            cols = named or (DIM_COLUMNS if DIM_COLUMNS[0] in row else LEGACY_DIM_COLUMNS)
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
    if x.r.part == RATED_PART:  # another standard: its main scores, as scores.csv's "<key>_score" columns
        dims = [float(v) for v in x.r.dims or ()]
        return {"mos": float(x.r.mos), "dims": dims, "part": x.r.part, "source": x.r.source}
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


# --------------------------------------------------------------------------- stats


# --------------------------------------------------------------------------- the release


def _counts(recs: list[_Rec]) -> dict:
    per_part = Counter(x.r.part for x in recs)
    per_split = Counter(x.split for x in recs)
    per_source = Counter(x.r.source for x in recs)
    parts = ALL_PARTS
    pps: dict[str, dict[str, int]] = {}
    for x in recs:
        pps.setdefault(x.r.part, dict.fromkeys(SPLITS, 0))[x.split] += 1
    pss: dict[str, dict[str, int]] = {}
    for x in recs:
        pss.setdefault(x.r.source, dict.fromkeys(SPLITS, 0))[x.split] += 1
    return {
        "total": len(recs),
        "per_part": {p: per_part[p] for p in parts if per_part[p]},
        "per_split": {s: per_split[s] for s in SPLITS},
        "per_source": dict(sorted(per_source.items())),
        "per_part_split": {p: pps[p] for p in parts if p in pps},
        "per_source_split": dict(sorted(pss.items())),
    }


# --------------------------------------------------------------------------- the release, stage by stage


@dataclass
class ExportContext:
    """What the exporters (:mod:`curation.exporters`) share: the validated records (sorted by image id),
    their columns, the index lists per split and part, the file tree, the raw ratings, and what earlier
    exporters left (``rating_facts``, ``patterns``/``split_bytes``, ``stats``, ``diff``). Build one with
    :func:`export_context`."""

    spec: ReleaseSpec
    recs: list[_Rec]
    tree: _Tree
    rtab: _RatingsFrame | None
    verify: bool = True
    max_shard_bytes: int = 500 << 20
    plots: bool = True
    by_split: dict[str, list[int]] = field(init=False)
    by_part: dict[str, list[int]] = field(init=False)
    rating_facts: dict | None = None
    patterns: dict[str, str] = field(default_factory=dict)
    split_bytes: dict[str, int] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    diff: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_split = {s: [] for s in SPLITS}
        self.by_part = {p: [] for p in ALL_PARTS}
        for i, x in enumerate(self.recs):
            self.by_split[x.split].append(i)
            self.by_part[x.r.part].append(i)

    @functools.cached_property
    def cols(self) -> _Columns:
        """The HumanBeauty layout's scalar columns (computed on first use)."""
        return _Columns(self.spec, self.recs)

    @functools.cached_property
    def names(self) -> list[str]:
        return [x.name for x in self.recs]

    @functools.cached_property
    def csv_names(self) -> list[str]:
        names = self.names
        return [_csv_str(n) for n in names] if any("," in n or '"' in n for n in names) else names

    @functools.cached_property
    def counts(self) -> dict:
        """Images per part, split, source and their crossings (stats.json, card, release.json)."""
        return _counts(self.recs)

    @functools.cached_property
    def facts(self) -> dict:
        """Everything the card, Croissant and release.json state (after the ratings exporter ran)."""
        return _facts(self.spec, self.recs, self.counts, self.rating_facts)

    @functools.cached_property
    def name_json(self) -> list[str]:
        # names are a hex digest + a checked extension ([a-z0-9.]): nothing to escape in JSON
        return ['"' + n + '"' for n in self.names]

    @functools.cached_property
    def splits(self) -> list[str]:
        return [x.split for x in self.recs]

    @functools.cached_property
    def dims_json(self) -> list[str | None]:
        """JSON text of each 50K record's 12 main scores (None for 58K)."""
        return [None if x.r.dims is None else repr([float(v) for v in x.r.dims]) for x in self.recs]

    @functools.cached_property
    def dim_levels(self) -> list[list[int] | None]:
        """Level index (into LEVELS) of each 50K record's 12 main scores (None for 58K)."""
        flat = [float(v) for x in self.recs if x.r.dims is not None for v in x.r.dims]
        lv = _level_index(flat, self.spec.level_rule)
        out: list[list[int] | None] = []
        k = 0
        for x in self.recs:
            if x.r.dims is None:
                out.append(None)
            else:
                out.append(lv[k : k + NUM_DIMENSIONS])
                k += NUM_DIMENSIONS
        return out


def _take(col: Sequence, idx: Sequence[int]) -> list:
    return [col[i] for i in idx]


def _manifest(ctx: ExportContext, release_sha256: str) -> dict:
    spec = ctx.spec
    has_ratings = ctx.rtab is not None
    return {
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
        "counts": ctx.counts,
        "facts": ctx.facts,
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
            "ratings": f"{RATINGS_PARQUET}, {RATINGS_CSV}" if has_ratings else None,
            "raters": f"{RATERS_PARQUET}, {RATERS_CSV}" if has_ratings else None,
            "croissant": "croissant.json",
            "card": "README.md",
        },
        "n_files": len(ctx.tree.sums) + 2,
        "release_sha256": release_sha256,
    }


VALIDATE_WEIGHT = 2.2  # relative costs of the writer's own steps, as the exporters' weights
MANIFEST_WEIGHT = 1.6


def export_context(
    spec: ReleaseSpec,
    records: Iterable[ReleaseRecord],
    root: Path,
    *,
    ratings: RatingsTable | None = None,
    verify_image_hashes: bool = True,
    max_shard_bytes: int = 500 << 20,
    plots: bool = True,
) -> ExportContext:
    """Validate the spec, records and ratings and make an empty ``root`` to export into (an existing
    ``root`` is removed first: it is a ``.partial`` build directory)."""
    recs = _validate(spec, records)
    rtab = _ratings_frame(ratings, recs, n_dims=spec.n_dims, part=spec.rated_part)
    _check_minimum(spec, recs, rtab)
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return ExportContext(spec, recs, _Tree(root), rtab, verify_image_hashes, max_shard_bytes, plots)


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
    from .exporters import LAYOUTS

    if spec.layout not in LAYOUTS:
        raise ReleaseError(f"layout {spec.layout!r} not in {sorted(LAYOUTS)}")
    layout = LAYOUTS[spec.layout]
    registry = layout.exporters
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    total_weight = VALIDATE_WEIGHT + sum(e.weight for e in registry) + MANIFEST_WEIGHT
    done = 0.0

    def stage(name: str, weight: float, t0: float) -> float:
        nonlocal done
        t1 = time.perf_counter()
        timings[name] = round(t1 - t0, 4)
        done += weight
        if progress:
            progress(name, min(1.0, done / total_weight))
        return t1

    t = time.perf_counter()
    tmp = out_dir.with_name(out_dir.name + ".partial")
    ctx = export_context(
        spec,
        records,
        tmp,
        ratings=ratings,
        verify_image_hashes=verify_image_hashes,
        max_shard_bytes=max_shard_bytes,
        plots=plots,
    )
    t = stage("validate", VALIDATE_WEIGHT, t)
    for exporter in registry:
        exporter.export(ctx)
        t = stage(exporter.name, exporter.weight, t)

    # manifest: release_sha256 over the sorted SHA256SUMS lines (without release.json)
    tree = ctx.tree
    lines = sorted(f"{h}  {p}\n" for p, h in tree.sums.items())
    release_sha256 = hashlib.sha256("".join(lines).encode()).hexdigest()
    manifest = (layout.manifest or _manifest)(ctx, release_sha256)
    tree.write_json("release.json", manifest)
    lines = sorted(f"{h}  {p}\n" for p, h in tree.sums.items())
    (tmp / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, out_dir)
    stage("manifest", MANIFEST_WEIGHT, t)
    timings["total"] = round(time.perf_counter() - t_all, 4)
    return ReleaseResult(out_dir, release_sha256, manifest, ctx.diff, timings, len(tree.sums) + 1)


# --------------------------------------------------------------------------- tables, ratings, facts


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
    """The raw ratings sorted by (image_id, rater), with integer codes: ``img`` is each row's position in
    the validated records (sorted by image id), ``rat`` its rater's rank among the sorted pseudonyms."""

    image_id: list[str]
    rater: list[str]
    scores: object  # numpy [R, 12]
    dwell_ms: list[int | None]
    campaign: list[str]
    day: list[str]
    raters: Mapping[str, Mapping[str, Sequence[float | None]]]
    img: object = None  # numpy int64 [R]
    rat: object = None  # numpy int64 [R]
    rater_names: list[str] = field(default_factory=list)  # sorted pseudonyms (``rat`` indexes them)
    comments: list[Mapping[str, str]] | None = None  # per rating: {dimension key: comment}


def _reordered(seq: Sequence, order: list[int]) -> list:
    if len(order) > 1:
        return list(operator.itemgetter(*order)(seq))
    return [seq[i] for i in order]


def _ratings_frame(
    ratings: RatingsTable | None, recs: list[_Rec], *, n_dims: int = NUM_DIMENSIONS, part: str = "50K"
) -> _RatingsFrame | None:
    """Validate the raw ratings and sort them by (image_id, rater).

    Design: image ids and pseudonyms become integer codes whose order is the strings' order (positions
    in the sorted records, ranks among the sorted pseudonyms), so one integer lexsort replaces a string
    sort and every later count is a ``bincount``."""
    if ratings is None:
        return None
    import numpy as np

    n = len(ratings.image_id)
    scores = np.asarray(ratings.scores, dtype=np.float64).reshape(n, n_dims) if n else np.zeros((0, n_dims))
    lengths = {
        len(ratings.rater),
        len(ratings.dwell_ms),
        len(ratings.campaign),
        len(ratings.day),
        scores.shape[0],
        *([len(ratings.comments)] if ratings.comments is not None else []),
    }
    if lengths != {n}:
        raise ReleaseError("ratings: columns of different lengths")
    pos = {x.r.image_id: k for k, x in enumerate(recs) if x.r.part == part}
    try:
        img = np.fromiter(map(pos.__getitem__, ratings.image_id), np.int64, n)
    except KeyError:
        unknown = set(ratings.image_id) - pos.keys()
        raise ReleaseError(
            f"ratings: {len(unknown)} rows for images that are not in the {part} part"
        ) from None
    finite = scores[~np.isnan(scores)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ReleaseError("ratings: scores outside [0, 1]")
    rater_names = sorted(set(ratings.rater))
    code = {r: k for k, r in enumerate(rater_names)}
    rat = np.fromiter(map(code.__getitem__, ratings.rater), np.int64, n)
    order_arr = np.lexsort((rat, img))  # stable: by image id, then pseudonym
    order = order_arr.tolist()
    return _RatingsFrame(
        image_id=_reordered(ratings.image_id, order),
        rater=_reordered(ratings.rater, order),
        scores=scores[order_arr] if n else scores,
        dwell_ms=_reordered(ratings.dwell_ms, order),
        campaign=_reordered(ratings.campaign, order),
        day=_reordered(ratings.day, order),
        raters=ratings.raters,
        img=img[order_arr],
        rat=rat[order_arr],
        rater_names=rater_names,
        comments=None if ratings.comments is None else _reordered(ratings.comments, order),
    )


def _check_minimum(spec: ReleaseSpec, recs: list[_Rec], rtab: _RatingsFrame | None) -> None:
    """No 50K image below the standard's minimum: counted in the raw ratings when given."""
    if not spec.min_ratings:
        return
    import numpy as np

    per_image = np.bincount(rtab.img, minlength=len(recs)).tolist() if rtab is not None else None
    for k, x in enumerate(recs):
        if x.r.part != spec.rated_part:
            continue
        n = per_image[k] if per_image is not None else x.r.n_ratings
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

    raters = rtab.rater_names
    per_rater_counts = np.bincount(rtab.rat, minlength=len(raters)).tolist()
    per_rater = dict(zip(raters, per_rater_counts, strict=True))
    rdata: dict = {"rater": raters, "n_ratings": per_rater_counts}
    for kind, label in (("bias", "bias"), ("inconsistency", "inconsistency")):
        for j, k in enumerate(DIMENSION_KEYS):
            vals = []
            for r in raters:
                v = (rtab.raters.get(r) or {}).get(kind)
                x = None if not v or v[j] is None else float(v[j])
                vals.append(x if x is None or math.isfinite(x) else None)
            rdata[f"{k}_{label}"] = vals
    _write_table(tree, _table(_raters_columns(), rdata), RATERS_PARQUET, RATERS_CSV)

    per_image_all = np.bincount(rtab.img) if len(rtab.img) else np.zeros(0, np.int64)
    counts = sorted(per_image_all[per_image_all > 0].tolist())
    if rtab.image_id:
        # dense codes in image id order, as the reliability figures have always been computed
        img = np.unique(rtab.img, return_inverse=True)[1].astype(np.int64)
        reliability = reliability_report(
            img, rtab.rat, scores, n_splits=20, rng=0, dimension_keys=DIMENSION_KEYS
        )
    else:
        reliability = {}
    return {
        "n_ratings": len(rtab.image_id),
        "n_raters": len(raters),
        "n_images_rated": len(counts),
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
