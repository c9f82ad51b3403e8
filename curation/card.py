"""Dataset card (README.md with Hugging Face YAML + Datasheets sections) and Croissant JSON-LD.

Pure text builders used by :mod:`curation.release_writer`; all inputs are plain dicts so the output is
deterministic. Card texts that are policy (consent, takedown, ethics) come from ``ReleaseSpec.card``;
the defaults below are placeholders the platform owner must review before publishing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

__all__ = [
    "CARD_DEFAULTS",
    "CROISSANT_CONTEXT",
    "annotators_text",
    "card_field",
    "render_card",
    "render_croissant",
]

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
        "HIAA standard by certified volunteers). The figures of this version are computed from its own data "
        "below; the HumanAesExpert paper is cited for the method only."
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
    "annotator_demographics": "",  # computed from the release's raters unless the owner writes one
    "annotation_protocol": (
        "Volunteers are certified by a qualification protocol (training with expert feedback, then an exam "
        "against expert gold); certified raters score each 50K image on the 12 dimensions in [0, 1] through "
        "the platform's queue."
    ),
    "url": "",
}


def card_field(card: Mapping, key: str):
    v = card.get(key)
    return CARD_DEFAULTS.get(key) if v is None else v


def _num(v, nd: int = 3) -> str:
    return "n/a" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def annotators_text(facts: Mapping) -> str:
    """Who rated, computed: distinct raters and how the qualification protocols certified them."""
    r = facts.get("ratings") or {}
    q = facts.get("qualification") or {}
    if not r:
        return "No raw ratings are part of this release; the number of raters is not stated."
    text = f"{r.get('n_raters', 0)} distinct certified raters contributed {r.get('n_ratings', 0)} ratings"
    how = q.get("certified_by") or {}
    if how:
        text += (
            " (" + ", ".join(f"{n} certified by {k.replace('_', ' ')}" for k, n in sorted(how.items())) + ")"
        )
    return text + "."


def ratings_text(facts: Mapping) -> str:
    r = facts.get("ratings") or {}
    if not r:
        return "Ratings per image: not published in this release."
    per = r.get("ratings_per_image", {})
    return (
        f"Ratings per 50K image: min {per.get('min')}, median {_num(per.get('median'), 1)}, max {per.get('max')} "
        f"(the standard's minimum is {facts.get('min_ratings') or 'not set'}; no image below it is included)."
    )


def reliability_rows(facts: Mapping) -> list[str]:
    rel = (facts.get("ratings") or {}).get("reliability") or {}
    return [
        f"| `{k}` | {_num(v.get('split_half_srcc'))} | {_num(v.get('spearman_brown'))} | {_num(v.get('icc_1k'))} "
        f"| {v.get('n_images')} |"
        for k, v in rel.items()
    ]


def qualification_text(facts: Mapping) -> str:
    q = facts.get("qualification") or {}
    protocols = q.get("protocols") or []
    if not protocols:
        return "Qualification: no protocol certified the contributing raters (admin certification only)."
    lines = []
    for p in protocols:
        f = p.get("funnel") or {}
        rounds = ", ".join(
            f"round {r['number']}: {r['entered']} entered / {r['passed']} passed" for r in f.get("rounds", [])
        )
        lines.append(
            f"- protocol `{p.get('name')}` ({p.get('raters_in_release', 0)} of this release's raters): invited "
            f"{f.get('invited', 0)}, joined {f.get('joined', 0)}{'; ' + rounds if rounds else ''}; certified "
            f"{f.get('certified', 0)}, exited {f.get('exited', 0)}"
        )
    return (
        "Qualification protocols that certified the contributing raters (funnel at release time):\n\n"
        + "\n".join(lines)
    )


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
    facts: Mapping | None = None,
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
    facts = facts or {}
    rel_rows = "\n".join(reliability_rows(facts)) or "| (no raw ratings in this release) | | | | |"
    kinds = facts.get("score_kinds") or {}
    level_rule = facts.get("level_rule", "lower_inclusive")
    level_text = (
        "lower-inclusive cuts 0.2/0.4/0.6/0.8 ([0.2, 0.4) is poor), as the public HumanAesExpert code"
        if level_rule == "lower_inclusive"
        else "upper-inclusive cuts 0.2/0.4/0.6/0.8 ((0.2, 0.4] is poor), as the HumanAesExpert paper's Eq. 2"
    )
    dim_map = "\n".join(
        f"| {i} | `{k}_psi` | {name} |" for i, (k, name) in enumerate(facts.get("dimension_names", []))
    )
    detector_params = facts.get("detector_params") or {}
    annotators = card_field(c, "annotator_demographics") or annotators_text(facts)
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

Scores are floats in [0, 1]. **The main score is SUREAL ψ** (`<dimension>_psi`): the P.910 Annex E
subject model `score = ψ_image + bias_rater + inconsistency_rater · noise` fitted on all ratings, which
discounts each rater's bias and weights consistent raters more, so it estimates the image's quality better
than a plain mean when raters differ. Beside it each dimension has `<dimension>_psi_se`, the plain MOS
`<dimension>_mos`, its sample SD `<dimension>_sd`, `<dimension>_n` and the 95 % Student-t CI half-width
`<dimension>_ci95`: to work with plain MOS, read the `_mos` columns (or re-aggregate `ratings/`).
`score` is the overall main score (ψ of `overall` clipped to [0, 1] for 50K, the normalised public score for
58K) and `score_kind` says which ({", ".join(f"{k}: {n}" for k, n in kinds.items()) or "n/a"}). The
HumanAesExpert layout keeps its upstream names (`image_name`, `score`, `text_level`); its 50K `score` list
holds the 12 main scores in this order:

| index in `score` | column | dimension |
|---|---|---|
{dim_map}

`rating_level` is bad/poor/fair/good/excellent with {level_text}. `image_id` is the SHA-256 of the image
bytes. Raw ratings: `ratings/ratings.{{parquet,csv}}` (one row per rating: `image_id`, pseudonymous `rater`
salted per release, the 12 scores by dimension key, `dwell_ms`, `campaign`, `day`); raters:
`ratings/raters.{{parquet,csv}}` (`rater`, `n_ratings`, `<dimension>_bias`, `<dimension>_inconsistency`);
no personal data.

| part | train | test |
|---|---|---|
{pps_rows}

| source | images |
|---|---|
{src_rows}

Formats in this release: `data/` (Parquet, default config), `imagefolder/`, `HumanAesExpert/`,
`swift/`, `qa/`, `pyiqa/`, `artimuse/`, `scores.csv`, `croissant.json`, `stats/`.
Integrity: `SHA256SUMS` (`sha256sum -c SHA256SUMS`), `release.json`, `diff.json`, `CHANGELOG.md`.

Split: image-level, stratified per part and source, test fraction {test_fraction}, salt `{split_salt}`:
{facts.get("split_rule", "")}. Splits of earlier releases are frozen (an image never changes split).

## Dataset Creation

### Source Data

58K: {", ".join(card_field(c, "source_datasets"))}; filtered to single-face images with {detector}.
Detector parameters: `{json.dumps(detector_params, sort_keys=True)}`.
Scores normalised per source with min-max over the filtered images (the method of HumanAesExpert Eq. 1).

### Annotations

{card_field(c, "annotation_protocol")}

- Annotators: {annotators}
- {ratings_text(facts)}
- Aggregation: `{json.dumps(aggregation, sort_keys=True)}`.

Reliability per dimension, computed from this release's raw ratings (split-half SRCC averaged over 20
random splits of each image's raters, Spearman–Brown corrected to the full panel; ICC(1,k)):

| dimension | split-half SRCC | Spearman–Brown | ICC(1,k) | images |
|---|---|---|---|---|
{rel_rows}

{qualification_text(facts)}

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
    facts: Mapping | None = None,
    extra_record_sets: Sequence[tuple[str, str, Sequence[tuple[str, str]], str]] = (),
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
    extra_sets: list[dict] = []
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
    for set_name, file_name, columns, description in extra_record_sets:
        extra_fields = [
            {
                "@type": "cr:Field",
                "@id": f"{set_name}/{col}",
                "name": col,
                "dataType": dtype,
                "source": {"fileObject": {"@id": file_name}, "extract": {"column": col}},
            }
            for col, dtype in columns
        ]
        extra_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": set_name,
                "name": set_name,
                "description": description,
                "field": extra_fields,
            }
        )
    facts = facts or {}
    ratings = facts.get("ratings") or {}
    per_image = ratings.get("ratings_per_image") or {}
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
        f"(HumanAesExpert Eq. 1); rating levels: {facts.get('level_rule', 'lower_inclusive')} cuts 0.2/0.4/0.6/0.8.",
        "rai:dataImputationProtocol": "No imputation: missing dimensions are left empty.",
        "rai:dataAnnotationProtocol": card_field(card, "annotation_protocol"),
        "rai:dataAnnotationPlatform": card_field(card, "annotation_platform"),
        "rai:dataAnnotationAnalysis": "Main score: SUREAL psi per dimension; plain MOS, SD, n and 95% t-CI "
        "beside it. Reliability computed from this release's ratings (split-half SRCC / Spearman-Brown / "
        "ICC(1,k)): "
        + json.dumps(ratings.get("reliability") or {}, sort_keys=True)
        + "; aggregation: "
        + json.dumps(aggregation, sort_keys=True),
        "rai:annotationsPerItem": (
            f"50K part: ratings per image min {per_image.get('min')}, median {per_image.get('median')}, max "
            f"{per_image.get('max')} (standard minimum {facts.get('min_ratings')}); 58K part: as in the source "
            "dataset."
            if per_image
            else "50K part: raw ratings not published in this release; 58K part: as in the source dataset."
        ),
        "rai:annotatorDemographics": card_field(card, "annotator_demographics") or annotators_text(facts),
        "rai:machineAnnotationTools": [
            f"RetinaFace ({detector}); parameters {json.dumps(facts.get('detector_params') or {}, sort_keys=True)}"
        ],
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
            *extra_sets,
        ],
    }
    return doc
