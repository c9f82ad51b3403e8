"""Images: the canonical copy (a hard link from the store) and the per-format folder layouts."""

from __future__ import annotations

import os
import shutil

from ..release_writer import (
    ARTIMUSE_DIR,
    HAE_ROOT,
    PART_DIRS,
    PARTS,
    SPLITS,
    ExportContext,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    """Canonical copy (hard link from the store) + hard links for every per-format folder layout.

    Design: the target folders are known up front, so they are made once and opened; each link is then one
    ``linkat`` relative to two open folders (no path walk from the release root per link)."""
    tree, recs = ctx.tree, ctx.recs
    root = tree._root_str
    sums = tree.sums
    hae = {p: f"{HAE_ROOT}/{PART_DIRS[p]}/images" for p in PARTS}
    targets = {"images", *(f"imagefolder/{s}/images" for s in SPLITS if ctx.by_split[s])}
    targets |= {hae[p] for p in PARTS if ctx.by_part[p]}
    if ctx.by_split["test"]:
        targets.add(f"{ARTIMUSE_DIR}/images")
    for d in sorted(targets):
        os.makedirs(os.path.join(root, d), exist_ok=True)
        tree._dirs.add(d)
    use_fd = os.link in os.supports_dir_fd
    fds = {d: os.open(os.path.join(root, d), os.O_RDONLY | os.O_DIRECTORY) for d in targets} if use_fd else {}
    try:
        link = os.link
        canon_fd = fds.get("images")
        split_dirs = {s: f"imagefolder/{s}/images" for s in SPLITS}
        art = f"{ARTIMUSE_DIR}/images"
        for x in recs:
            iid, name = x.r.image_id, x.name
            canon = "images/" + name
            try:
                link(x.r.image_path, os.path.join(root, canon))
            except OSError:
                shutil.copyfile(x.r.image_path, os.path.join(root, canon))
            sums[canon] = iid
            dirs = (split_dirs[x.split], hae[x.r.part], art) if x.split == "test" else (
                split_dirs[x.split], hae[x.r.part])  # fmt: skip
            for d in dirs:
                try:
                    if use_fd:
                        link(name, name, src_dir_fd=canon_fd, dst_dir_fd=fds[d])
                    else:
                        link(os.path.join(root, canon), os.path.join(root, d, name))
                except OSError:
                    shutil.copyfile(os.path.join(root, canon), os.path.join(root, d, name))
                sums[d + "/" + name] = iid
    finally:
        for fd in fds.values():
            os.close(fd)


EXPORTER = Exporter(
    name="images",
    weight=3.1,
    export=export,
    outputs=(
        "images/*",
        "imagefolder/*/images/*",
        "HumanAesExpert/*/images/*",
        "artimuse/test_datasets/HumanBeauty/images/*",
    ),
)
