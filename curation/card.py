"""Dataset card (README.md with Hugging Face YAML + Datasheets sections) and Croissant JSON-LD.

Pure text builders used by :mod:`curation.release_writer`; all inputs are plain dicts so the output is
deterministic. Card texts that are policy (consent, takedown, ethics) come from ``ReleaseSpec.card``;
the defaults below are placeholders the platform owner must review before publishing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

__all__ = ["CARD_DEFAULTS", "CROISSANT_CONTEXT", "card_field", "render_card", "render_croissant"]

CROISSANT_CONTEXT: dict = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

CARD_DEFAULTS: dict = {
    "pretty_name": "HumanBeauty",
    "description": (
        "HumanBeauty is a Human Image Aesthetic Assessment (HIAA) dataset: HumanBeauty-58K (human images "
        "filtered from public IAA datasets with a single-face RetinaFace filter, overall scores min-max "
        "normalised per source) and HumanBeauty-50K (images collected and annotated on the 12-dimensional "
        "HIAA standard by certified volunteers, each image rated by at least 9 raters; MOS per dimension)."
    ),
    "homepage": "",
    "citation": (
        "@article{liao2025humanaesexpert,\n  title={HumanAesExpert: Advancing a Multi-Modality Foundation "
        "Model for Human Image Aesthetic Assessment},\n  journal={arXiv preprint arXiv:2503.23907},\n  "
        "year={2025}\n}"
    ),
    "contact": "",
    "license_name": "humanbeauty-research-only",
    "license_link": "LICENSE",
    "source_datasets": ["SCUT-FBP5500", "MEBeauty", "AVA", "TAD66K", "BAID", "AGIQA-3K"],
    "annotations_creators": ["crowdsourced", "expert-generated"],
    "consent": (
        "58K images come from public research datasets under their own licences. 50K images were collected "
        "by volunteers from the Internet following the collection principles (no privacy violations, no "
        "explicit or violent content); non-public individuals' images were used only with authorisation. "
        "Subjects can request removal (takedown) via the contact address; removed images are dropped from "
        "the next release and listed in diff.json."
    ),
    "personal_data": (
        "Images show identifiable faces of real people (personal data). No names, identities or other "
        "metadata about the pictured people are distributed. Do not use the data for identification, "
        "biometric profiling or to rank real individuals' attractiveness."
    ),
    "ethics_review": "Describe the ethics/impact review here before publishing.",
    "biases": (
        "Aesthetic judgements are subjective and culturally situated; rater pools and source datasets are "
        "not demographically balanced (e.g. SCUT-FBP5500 is Asian/Caucasian faces only)."
    ),
    "limitations": (
        "Scores of the 58K part are min-max normalised per source, so they are comparable within a source "
        "only approximately across sources. The face filter (RetinaFace) misses some faces and accepts "
        "some non-faces."
    ),
    "uses": "Training and evaluating HIAA models (e.g. HumanAesExpert); research on aesthetic assessment.",
    "out_of_scope": "Identification of people; ranking real individuals; any use violating the licence.",
    "maintenance": (
        "Versioned releases (SemVer); every version stays hosted and immutable; errata and takedowns are "
        "published as new versions with CHANGELOG.md and diff.json."
    ),
    "collection_timeframe": [],
    "annotation_platform": "HumanBeauty annotation platform (Django/Celery).",
    "annotator_demographics": "368 certified volunteers from various fields (paper §3.2).",
    "annotation_protocol": (
        "Iterative training-testing protocol qualifies volunteers; each 50K image is rated on 12 "
        "dimensions in [0,1] by at least 9 raters; the MOS per dimension is the mean of the raters' scores."
    ),
    "url": "",
}


def card_field(card: Mapping, key: str):
    v = card.get(key)
    return CARD_DEFAULTS.get(key) if v is None else v


def _yaml_str(s: str) -> str:
    return json.dumps(str(s), ensure_ascii=False)


def render_card(
    *,
    version: str,
    license_id: str,
    card: Mapping,
    created_at: str,
    features: Sequence[tuple[str, str]],
    split_counts: Mapping[str, int],
    split_bytes: Mapping[str, int],
    data_files: Mapping[str, str],
    counts: Mapping,
    aggregation: Mapping,
    split_salt: str,
    test_fraction: float,
    detector: str,
    stats_summary: Mapping,
) -> str:
    """README.md: HF YAML header (configs, license, task_categories, dataset_info) + Datasheet body."""
    total = sum(split_counts.values())
    size_cat = (
        "n<1K"
        if total < 1_000
        else "1K<n<10K"
        if total < 10_000
        else "10K<n<100K"
        if total < 100_000
        else "100K<n<1M"
    )
    y = ["---", f"pretty_name: {_yaml_str(card_field(card, 'pretty_name'))}"]
    if license_id in ("other", "", None):
        y += [
            "license: other",
            f"license_name: {_yaml_str(card_field(card, 'license_name'))}",
            f"license_link: {_yaml_str(card_field(card, 'license_link'))}",
        ]
    else:
        y.append(f"license: {license_id}")
    y += [
        "task_categories:",
        "- image-classification",
        "- visual-question-answering",
        "- image-text-to-text",
        "language:",
        "- en",
        "tags:",
        "- image-aesthetic-assessment",
        "- human-image-aesthetic-assessment",
        "- humanaesexpert",
        "size_categories:",
        f"- {size_cat}",
        "annotations_creators:",
        *[f"- {a}" for a in card_field(card, "annotations_creators")],
        "source_datasets:",
        *[f"- {_yaml_str(s)}" for s in card_field(card, "source_datasets")],
        "configs:",
        "- config_name: default",
        "  default: true",
        "  data_files:",
    ]
    for split, pattern in data_files.items():
        y += [f"  - split: {split}", f"    path: {pattern}"]
    y += ["dataset_info:", "  features:"]
    for name, dtype in features:
        y += [f"  - name: {name}", f"    dtype: {dtype}"]
    y += ["  splits:"]
    for split in data_files:
        y += [
            f"  - name: {split}",
            f"    num_bytes: {int(split_bytes.get(split, 0))}",
            f"    num_examples: {int(split_counts.get(split, 0))}",
        ]
    y += [f"  dataset_size: {int(sum(split_bytes.values()))}", "---", ""]

    per_part = counts.get("per_part", {})
    per_source = counts.get("per_source", {})
    per_part_split = counts.get("per_part_split", {})
    src_rows = "\n".join(f"| {s} | {n} |" for s, n in per_source.items())
    pps_rows = "\n".join(
        f"| {p} | {d.get('train', 0)} | {d.get('test', 0)} |" for p, d in per_part_split.items()
    )
    c = card
    body = f"""# {card_field(c, "pretty_name")} v{version}

{card_field(c, "description")}

Released {created_at}. {total} images: {", ".join(f"{n} in {p}" for p, n in per_part.items())}.

## Dataset Details

- **Version:** {version} (SemVer; pin with `revision="v{version}"`)
- **Homepage:** {card_field(c, "homepage") or "n/a"}
- **Contact:** {card_field(c, "contact") or "n/a"}
- **License:** {license_id if license_id not in ("other", "") else card_field(c, "license_name")}

## Uses

{card_field(c, "uses")}

**Out of scope:** {card_field(c, "out_of_scope")}

## Dataset Structure

Scores are floats in [0, 1]. `mos` is the overall (Comprehensive Aesthetic) score; `d01`..`d12` are the
12 dimensions in the HumanAesExpert order (null for the 58K part); `rating_level` is bad/poor/fair/good/
excellent with lower-inclusive cuts 0.2/0.4/0.6/0.8. `image_id` is the SHA-256 of the image bytes.

| part | train | test |
|---|---|---|
{pps_rows}

| source | images |
|---|---|
{src_rows}

Formats in this release: `data/` (Parquet, default config), `imagefolder/`, `HumanAesExpert/`,
`swift/`, `qa/`, `pyiqa/`, `artimuse/`, `scores.csv`, `croissant.json`, `stats/`.
Integrity: `SHA256SUMS` (`sha256sum -c SHA256SUMS`), `release.json`, `diff.json`, `CHANGELOG.md`.

Split: image-level, `u = int(sha256("<salt>:<image_id>")[:16], 16) / 2**64`, test iff `u < {test_fraction}`,
salt `{split_salt}`; splits of earlier releases are frozen (an image never changes split).

## Dataset Creation

### Source Data

58K: {", ".join(card_field(c, "source_datasets"))}; filtered to single-face images with {detector}.
Scores normalised per source with min-max over the filtered images (HumanAesExpert Eq. 1).

### Annotations

{card_field(c, "annotation_protocol")}
Aggregation: `{json.dumps(aggregation, sort_keys=True)}`.
Annotators: {card_field(c, "annotator_demographics")}

### Personal and Sensitive Information

{card_field(c, "personal_data")}

### Consent, notification and revocation

{card_field(c, "consent")}

### Ethics review

{card_field(c, "ethics_review")}

## Bias, Risks, and Limitations

{card_field(c, "biases")}

{card_field(c, "limitations")}

## Datasheet

- **Motivation:** first large-scale dataset for Human Image Aesthetic Assessment (HIAA).
- **Composition:** see Dataset Structure; max share of one 0.02 score bin: \
{stats_summary.get("max_bin_fraction", "n/a")}.
- **Collection process:** see Source Data and Consent.
- **Preprocessing/cleaning/labeling:** face filter, per-source min-max, MOS aggregation (see above).
- **Uses:** see Uses.
- **Distribution:** files listed in `SHA256SUMS`; Croissant metadata in `croissant.json`.
- **Maintenance:** {card_field(c, "maintenance")}

## Citation

```bibtex
{card_field(c, "citation")}
```
"""
    return "\n".join(y) + body


def render_croissant(
    *,
    name: str,
    version: str,
    license_id: str,
    card: Mapping,
    created_at: str,
    file_objects: Sequence[tuple[str, str, str]],  # (path, encodingFormat, sha256)
    image_glob: str,
    image_format: str,
    score_columns: Sequence[tuple[str, str]],  # (column, sc:Float|sc:Text|sc:Integer)
    split_salt: str,
    detector: str,
    aggregation: Mapping,
) -> dict:
    """Croissant 1.0 + RAI 1.0 JSON-LD with FileObjects (sha256), the image FileSet and record sets
    ``images`` (image_name, image) and ``scores`` (columns of scores.csv)."""
    lic = card_field(card, "license_link") if license_id in ("other", "") else license_id
    dist = [
        {
            "@type": "cr:FileObject",
            "@id": path,
            "name": path,
            "contentUrl": path,
            "encodingFormat": fmt,
            "sha256": sha,
        }
        for path, fmt, sha in file_objects
    ]
    dist.append(
        {
            "@type": "cr:FileSet",
            "@id": "image-files",
            "name": "image-files",
            "encodingFormat": image_format,
            "includes": image_glob,
        }
    )
    fields = []
    for col, dtype in score_columns:
        f = {
            "@type": "cr:Field",
            "@id": f"scores/{col}",
            "name": col,
            "dataType": dtype,
            "source": {"fileObject": {"@id": "scores.csv"}, "extract": {"column": col}},
        }
        if col == "image_name":
            f["references"] = {"field": {"@id": "images/image_name"}}
        fields.append(f)
    timeframe = list(card_field(card, "collection_timeframe") or [])
    rai = {
        "rai:dataCollection": card_field(card, "consent"),
        "rai:dataCollectionType": ["Web scraping", "Manual human curation", "Secondary data analysis"],
        "rai:dataCollectionRawData": "58K part: " + ", ".join(card_field(card, "source_datasets")),
        "rai:dataCollectionMissingData": "Images whose files were missing or scores unparsable were skipped "
        "at import; 58K images have no per-dimension scores (d01..d12 empty).",
        "rai:dataPreprocessingProtocol": f"Single-face filter with RetinaFace ({detector}); exact-duplicate "
        "removal by SHA-256 of the bytes; images are distributed byte-identical (not re-encoded).",
        "rai:dataManipulationProtocol": "Per-source min-max normalisation of the 58K scores to [0,1] "
        "(HumanAesExpert Eq. 1); rating levels from lower-inclusive cuts 0.2/0.4/0.6/0.8.",
        "rai:dataImputationProtocol": "No imputation: missing dimensions are left empty.",
        "rai:dataAnnotationProtocol": card_field(card, "annotation_protocol"),
        "rai:dataAnnotationPlatform": card_field(card, "annotation_platform"),
        "rai:dataAnnotationAnalysis": "MOS = mean of raters' scores per dimension; aggregation: "
        + json.dumps(aggregation, sort_keys=True),
        "rai:annotationsPerItem": "50K part: at least 9 raters per image and dimension; 58K part: as in the "
        "source dataset.",
        "rai:annotatorDemographics": card_field(card, "annotator_demographics"),
        "rai:machineAnnotationTools": [f"RetinaFace ({detector})"],
        "rai:dataBiases": card_field(card, "biases"),
        "rai:dataLimitations": card_field(card, "limitations"),
        "rai:dataUseCases": card_field(card, "uses"),
        "rai:dataSocialImpact": card_field(card, "ethics_review")
        + " Takedown: "
        + card_field(card, "consent"),
        "rai:personalSensitiveInformation": card_field(card, "personal_data"),
        "rai:dataReleaseMaintenancePlan": card_field(card, "maintenance"),
    }
    if timeframe:
        rai["rai:dataCollectionTimeFrame"] = timeframe
    doc = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "name": name,
        "description": card_field(card, "description"),
        "conformsTo": ["http://mlcommons.org/croissant/1.0", "http://mlcommons.org/croissant/RAI/1.0"],
        "license": lic,
        "url": card_field(card, "url") or card_field(card, "homepage") or "https://example.org/humanbeauty",
        "version": version,
        "datePublished": created_at,
        "citeAs": card_field(card, "citation"),
        "sc:ethicsPolicy": card_field(card, "ethics_review"),
        "keywords": ["image aesthetic assessment", "human images", "HIAA"],
        "isAccessibleForFree": True,
        **rai,
        "distribution": dist,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "images",
                "name": "images",
                "key": {"@id": "images/image_name"},
                "field": [
                    {
                        "@type": "cr:Field",
                        "@id": "images/image_name",
                        "name": "image_name",
                        "dataType": "sc:Text",
                        "source": {
                            "fileSet": {"@id": "image-files"},
                            "extract": {"fileProperty": "filename"},
                        },
                    },
                    {
                        "@type": "cr:Field",
                        "@id": "images/image",
                        "name": "image",
                        "dataType": "sc:ImageObject",
                        "source": {"fileSet": {"@id": "image-files"}, "extract": {"fileProperty": "content"}},
                    },
                ],
            },
            {
                "@type": "cr:RecordSet",
                "@id": "scores",
                "name": "scores",
                "description": f"scores.csv; split salt {split_salt}",
                "field": fields,
            },
        ],
    }
    return doc
