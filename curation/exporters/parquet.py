"""Hugging Face datasets Parquet: ``data/<split>-NNNNN-of-NNNNN.parquet`` with the image bytes embedded."""

from __future__ import annotations

import hashlib
import os

from ..release_writer import (
    SPLITS,
    ExportContext,
    ReleaseError,
    _parquet_schema,
    _Rec,
    _scalar_columns,
)
from .base import Exporter


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
    ctx: ExportContext, *, row_group_bytes: int = 64 << 20, row_group_rows: int = 4096
) -> tuple[dict[str, str], dict[str, int]]:
    """One Arrow table of the scalar columns (built once), sliced per row group beside the image bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    image_type = schema.field("image").type
    scalar = pa.Table.from_pydict(
        {name: ctx.cols.data[name] for name, _dt in _scalar_columns()}, schema=pa.schema(list(schema)[1:])
    )
    patterns: dict[str, str] = {}
    split_bytes: dict[str, int] = {}
    tree, verify = ctx.tree, ctx.verify
    for split in SPLITS:
        idx = ctx.by_split.get(split) or []
        if not idx:
            continue
        recs = [ctx.recs[i] for i in idx]
        table = scalar.take(pa.array(idx, type=pa.int64()))
        shards = _shards(recs, ctx.max_shard_bytes)
        patterns[split] = f"data/{split}-*"
        total = 0
        pos = 0  # row of ``table`` of the next image
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
            datas: list[bytes] = []
            paths: list[str] = []
            nbytes = 0

            def flush(datas=datas, paths=paths, writer=writer, table=table) -> None:
                nonlocal pos
                if datas:
                    image = pa.StructArray.from_arrays(
                        [pa.array(datas, pa.binary()), pa.array(paths, pa.string())], fields=list(image_type)
                    )
                    rows = table.slice(pos, len(datas))
                    writer.write_table(pa.Table.from_arrays([image, *rows.columns], schema=schema))
                    pos += len(datas)
                    datas.clear()
                    paths.clear()

            for x in shard:
                r = x.r
                with open(r.image_path, "rb") as fh:
                    data = fh.read()
                if verify and hashlib.sha256(data).hexdigest() != r.image_id:
                    writer.close()
                    raise ReleaseError(f"{r.image_path}: bytes do not hash to image_id {r.image_id}")
                datas.append(data)
                paths.append(x.name)
                nbytes += len(data)
                total += len(data)
                if nbytes >= row_group_bytes or len(datas) >= row_group_rows:
                    flush()
                    nbytes = 0
            flush()
            writer.close()
            tree.register(rel)
        split_bytes[split] = total
    return patterns, split_bytes


def export(ctx: ExportContext) -> None:
    """Parquet shards per split (embedded bytes; verifies each image_id while reading the bytes)."""
    ctx.patterns, ctx.split_bytes = _write_parquet(ctx)


EXPORTER = Exporter(name="parquet", weight=4.3, export=export, outputs=("data/*.parquet",))
