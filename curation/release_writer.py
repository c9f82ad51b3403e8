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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modeling.standard import (
    DIMENSIONS,
    EXPERT_QUESTIONS,
    LEVELS,
    NUM_DIMENSIONS,
    OVERALL_QUESTIONS,
    STANDARD_KEY,
    expert_answer,
    level_for,
    overall_answer,
)

from . import card as card_mod

__all__ = [
    "DIM_COLUMNS",
    "PARTS",
    "SPLITS",
    "PreviousRelease",
    "ReleaseError",
    "ReleaseRecord",
    "ReleaseResult",
    "ReleaseSpec",
    "assign_split",
    "load_previous_release",
    "question_for",
    "write_release",
]

SPLITS: tuple[str, ...] = ("train", "test")
PARTS: tuple[str, ...] = ("50K", "58K")
PART_DIRS: dict[str, str] = {"50K": "HumanBeauty-50K", "58K": "HumanBeauty-58K"}
DIM_COLUMNS: tuple[str, ...] = tuple(f"d{i + 1:02d}" for i in range(NUM_DIMENSIONS))
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
    image_path: Path  # absolute path of the stored bytes
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
    """ecosystem.md §7: test iff ``int(sha256(f"{salt}:{image_id}")[:16], 16) / 2**64 < test_fraction``;
    a split in ``frozen`` (earlier releases) always wins."""
    if frozen is not None:
        s = frozen.get(image_id)
        if s is not None:
            return s
    u = int(hashlib.sha256(f"{salt}:{image_id}".encode()).hexdigest()[:16], 16) / 2**64
    return "test" if u < test_fraction else "train"


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
    frozen = dict(spec.previous.splits) if spec.previous else {}
    out: list[_Rec] = []
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
        if iid in frozen:
            split = frozen[iid]
        elif r.split is not None:
            split = r.split
        else:
            split = assign_split(iid, spec.split_salt, spec.test_fraction)
        out.append(_Rec(r, ext, split))
    if not out:
        raise ReleaseError("no records")
    out.sort(key=lambda x: x.r.image_id)
    return out


# --------------------------------------------------------------------------- writer helpers


class _Tree:
    """Writes files under a root and remembers each file's sha256 (for SHA256SUMS)."""

    def __init__(self, root: Path):
        self.root = root
        self.sums: dict[str, str] = {}
        self._dirs: set[str] = set()

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

    def link(self, src: Path, rel: str, sha: str) -> None:
        dst = self._mkparent(rel)
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


def _dims_dict(x: _Rec) -> dict:
    d = x.r.dims
    return {c: (float(d[i]) if d is not None else None) for i, c in enumerate(DIM_COLUMNS)}


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
            dims = [float(row[c]) for c in DIM_COLUMNS] if row[DIM_COLUMNS[0]] else None
            labels[iid] = {
                "mos": float(row["mos"]),
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
    return {
        "mos": float(x.r.mos),
        "dims": [float(v) for v in x.r.dims] if x.r.dims is not None else None,
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


def _hf_features() -> tuple[dict, list[tuple[str, str]]]:
    """(the ``huggingface`` schema metadata features, [(name, card dtype)])."""
    cols: list[tuple[str, str]] = [
        ("image", "image"),
        ("image_id", "string"),
        ("source", "string"),
        ("part", "string"),
        ("mos", "float64"),
        ("rating_level", "string"),
        ("n_ratings", "int32"),
        ("mos_std", "float64"),
        *[(c, "float64") for c in DIM_COLUMNS],
    ]
    feats = {}
    for name, dt in cols:
        feats[name] = {"_type": "Image"} if dt == "image" else {"dtype": dt, "_type": "Value"}
    return feats, cols


def _parquet_schema():
    import pyarrow as pa

    feats, _ = _hf_features()
    fields = [
        pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        pa.field("image_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("part", pa.string()),
        pa.field("mos", pa.float64()),
        pa.field("rating_level", pa.string()),
        pa.field("n_ratings", pa.int32()),
        pa.field("mos_std", pa.float64()),
        *[pa.field(c, pa.float64()) for c in DIM_COLUMNS],
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
                use_dictionary=["source", "part", "rating_level"],
                write_statistics=["mos", "n_ratings"],
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
                data = Path(r.image_path).read_bytes()
                if verify and hashlib.sha256(data).hexdigest() != r.image_id:
                    writer.close()
                    raise ReleaseError(f"{r.image_path}: bytes do not hash to image_id {r.image_id}")
                cols["image"].append({"bytes": data, "path": x.name})
                cols["image_id"].append(r.image_id)
                cols["source"].append(r.source)
                cols["part"].append(r.part)
                cols["mos"].append(float(r.mos))
                cols["rating_level"].append(level_for(r.mos))
                cols["n_ratings"].append(int(r.n_ratings))
                cols["mos_std"].append(None if r.mos_std is None else float(r.mos_std))
                for i, c in enumerate(DIM_COLUMNS):
                    cols[c].append(float(r.dims[i]) if r.dims is not None else None)
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


def _describe(values: Sequence[float]) -> dict:
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
        "levels": dict(zip(LEVELS, _level_counts(values), strict=True)),
    }


def _level_counts(values: Iterable[float]) -> list[int]:
    c = Counter(level_for(v) for v in values)
    return [c.get(lv, 0) for lv in LEVELS]


def _stats(recs: list[_Rec]) -> dict:
    overall = [float(x.r.mos) for x in recs]
    h = _hist(overall)
    per_source: dict[str, dict] = {}
    for src in sorted({x.r.source for x in recs}):
        vals = [float(x.r.mos) for x in recs if x.r.source == src]
        per_source[src] = _describe(vals) | {
            "part": sorted({x.r.part for x in recs if x.r.source == src}),
            "hist_0.02": _hist(vals),
            "train": sum(1 for x in recs if x.r.source == src and x.split == "train"),
            "test": sum(1 for x in recs if x.r.source == src and x.split == "test"),
        }
    expert = [x for x in recs if x.r.dims is not None]
    per_dim = {}
    for d in DIMENSIONS:
        vals = [float(x.r.dims[d.index]) for x in expert]
        per_dim[d.key] = _describe(vals) | {
            "name": d.name,
            "column": DIM_COLUMNS[d.index],
            "hist_0.02": _hist(vals),
        }
    per_part = {p: _describe([float(x.r.mos) for x in recs if x.r.part == p]) for p in PARTS}
    return {
        "n_images": len(recs),
        "overall": _describe(overall) | {"hist_0.02": h, "max_bin_fraction": round(max(h) / len(recs), 6)},
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
) -> ReleaseResult:
    """Write the whole release into ``out_dir`` (must not exist: releases are write-once).

    Built in ``<out_dir>.partial`` and renamed at the end, so a crash never leaves a half release under
    the final name. ``progress(stage, fraction)`` is called between stages (for Celery ``update_state``).
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists: releases are immutable (write a new version)")
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    stages = 10

    def stage(name: str, k: int, t0: float) -> float:
        t1 = time.perf_counter()
        timings[name] = round(t1 - t0, 4)
        if progress:
            progress(name, k / stages)
        return t1

    t = time.perf_counter()
    recs = _validate(spec, records)
    by_split: dict[str, list[_Rec]] = {s: [x for x in recs if x.split == s] for s in SPLITS}
    by_part: dict[str, list[_Rec]] = {p: [x for x in recs if x.r.part == p] for p in PARTS}
    t = stage("validate", 1, t)

    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tree = _Tree(tmp)

    # 1. images: canonical copy + hard links for every per-format folder layout
    for x in recs:
        iid, name = x.r.image_id, x.name
        canon = f"images/{name}"
        tree.link(Path(x.r.image_path), canon, iid)
        src = tmp / canon
        tree.link(src, f"imagefolder/{x.split}/images/{name}", iid)
        tree.link(src, f"{HAE_ROOT}/{PART_DIRS[x.r.part]}/images/{name}", iid)
        if x.split == "test":
            tree.link(src, f"{ARTIMUSE_DIR}/images/{name}", iid)
    t = stage("link_images", 2, t)

    # 2. HF imagefolder metadata
    for split in SPLITS:
        rows = []
        for x in by_split[split]:
            r = x.r
            rows.append(
                {
                    "file_name": f"images/{x.name}",
                    "image_id": r.image_id,
                    "source": r.source,
                    "part": r.part,
                    "mos": float(r.mos),
                    "rating_level": level_for(r.mos),
                    "n_ratings": int(r.n_ratings),
                    "mos_std": None if r.mos_std is None else float(r.mos_std),
                    **_dims_dict(x),
                }
            )
        if rows:
            tree.write_jsonl(f"imagefolder/{split}/metadata.jsonl", rows)
    t = stage("imagefolder", 3, t)

    # 3. HumanAesExpert layout (model.md §6 keys)
    for part in PARTS:
        rows = []
        for x in by_part[part]:
            if part == "58K":
                rows.append(
                    {
                        "image_name": x.name,
                        "score": float(x.r.mos),
                        "text_level": level_for(x.r.mos),
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
                    row |= {"score": float(x.r.mos), "text_level": level_for(x.r.mos)}
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
                pairs.append(("expert", question_for(r.image_id, True), expert_answer(list(r.dims))))
            pairs.append(("overall", question_for(r.image_id, False), overall_answer(r.mos)))
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

    # 5. scores.csv, pyiqa, ArtiMuse
    header = [
        "image_name",
        "mos",
        "mos_std",
        "n_ratings",
        *DIM_COLUMNS,
        "rating_level",
        "source",
        "official_split",
        "image_id",
        "part",
    ]
    tree.write_text(
        "scores.csv",
        _csv_text(
            header,
            (
                [
                    x.name,
                    float(x.r.mos),
                    None if x.r.mos_std is None else float(x.r.mos_std),
                    int(x.r.n_ratings),
                    *(_dims_dict(x).values()),
                    level_for(x.r.mos),
                    x.r.source,
                    x.split,
                    x.r.image_id,
                    x.r.part,
                ]
                for x in recs
            ),
        ),
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

    # 6. Parquet (embedded bytes; verifies image_id while reading)
    patterns, split_bytes = _write_parquet(
        tree, by_split, verify=verify_image_hashes, max_shard_bytes=max_shard_bytes
    )
    t = stage("parquet", 7, t)

    # 7. stats + plots
    stats = _stats(recs)
    stats["counts"] = _counts(recs)
    tree.write_json("stats/stats.json", stats)
    if plots:
        _plots(tree, stats)
    t = stage("stats_plots", 8, t)

    # 8. diff + changelog
    diff = _diff(spec, recs)
    tree.write_json("diff.json", diff)
    c = diff["counts"]
    entry = (
        f"## {spec.version} ({spec.created_at})\n\n"
        f"- from: {diff['from'] or 'initial release'}\n"
        f"- images: {len(recs)} ({', '.join(f'{p} {n}' for p, n in stats['counts']['per_part'].items())})\n"
        f"- added {c['added']}, removed {c['removed']}, relabelled {c['relabelled']}, "
        f"split moved {c['split_moved']}\n"
        f"- split salt `{spec.split_salt}`, test fraction {spec.test_fraction}\n"
    )
    if spec.changelog_notes:
        entry += f"\n{spec.changelog_notes.strip()}\n"
    old = spec.previous.changelog if spec.previous else ""
    old_body = old.split("\n", 2)[2] if old.startswith("# Changelog\n") else old
    tree.write_text(
        "CHANGELOG.md", "# Changelog\n\n" + entry + ("\n" + old_body.lstrip("\n") if old_body else "")
    )
    t = stage("diff_changelog", 9, t)

    # 9. card + croissant
    _feats, card_features = _hf_features()
    counts = stats["counts"]
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
        ),
    )
    exts = sorted({x.ext for x in recs})
    score_cols = [
        ("image_name", "sc:Text"),
        ("mos", "sc:Float"),
        ("n_ratings", "sc:Integer"),
        *[(col, "sc:Float") for col in DIM_COLUMNS],
        ("rating_level", "sc:Text"),
        ("source", "sc:Text"),
        ("official_split", "sc:Text"),
        ("image_id", "sc:Text"),
        ("part", "sc:Text"),
    ]
    fobjs = [("scores.csv", "text/csv", tree.sums["scores.csv"])]
    fobjs += [(p, "application/x-parquet", tree.sums[p]) for p in sorted(tree.sums) if p.startswith("data/")]
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
    )
    tree.write_json("croissant.json", croissant)
    t = stage("card_croissant", 10, t)

    # 10. manifest: release_sha256 over the sorted SHA256SUMS lines (without release.json)
    lines = sorted(f"{h}  {p}\n" for p, h in tree.sums.items())
    release_sha256 = hashlib.sha256("".join(lines).encode()).hexdigest()
    manifest = {
        "name": spec.name,
        "version": spec.version,
        "created_at": spec.created_at,
        "standard_key": spec.standard_key,
        "split_salt": spec.split_salt,
        "test_fraction": spec.test_fraction,
        "split_rule": 'test iff int(sha256(f"{salt}:{image_id}")[:16],16)/2**64 < test_fraction; frozen wins',
        "aggregation": dict(spec.aggregation),
        "normalisation": dict(spec.normalisation),
        "detector": spec.detector,
        "license": spec.license,
        "previous_version": spec.previous.version if spec.previous else None,
        "previous_release_sha256": spec.previous.release_sha256 if spec.previous else None,
        "counts": counts,
        "dimension_columns": {col: d.key for col, d in zip(DIM_COLUMNS, DIMENSIONS, strict=True)},
        "formats": {
            "parquet": "data/",
            "imagefolder": "imagefolder/",
            "humanaesexpert": f"{HAE_ROOT}/",
            "swift": "swift/ (ROOT_IMAGE_DIR=<release root>)",
            "qa": "qa/",
            "pyiqa": PYIQA_CSV + " (dataroot_target=<release root>/images)",
            "artimuse": ARTIMUSE_DIR + "/",
            "scores_csv": "scores.csv",
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
    stage("manifest", 10, t)
    timings["total"] = round(time.perf_counter() - t_all, 4)
    return ReleaseResult(out_dir, release_sha256, manifest, diff, timings, len(tree.sums) + 1)
