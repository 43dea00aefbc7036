"""Model files for reload tests: a second valid model without retraining,
putting a model in place the way an operator would, and broken files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from classifier.model import checksum_path, file_sha256, load_model, save_model


def resave(src: Path, dst: Path, version: str) -> Path:
    """The model at `src` written to `dst` under another version (so another
    SHA-256): a second valid model, through the classifier's own API."""
    model = load_model(src)
    model.metadata = {**model.metadata, "version": version}
    save_model(model, dst)
    return dst


def install(src: Path, live: Path) -> str:
    """Copy the model `src` and its checksum file over `live` with one rename
    each (copied beside `live` first, so each rename is atomic); returns the
    SHA-256 now at `live`."""
    for s, d in ((src, live), (checksum_path(src), checksum_path(live))):
        staging = d.with_name(f".staging-{d.name}")
        shutil.copyfile(s, staging)
        os.replace(staging, d)
    return file_sha256(live)


def install_truncated(src: Path, live: Path) -> None:
    """A half-written model: the first half of `src` at `live`, beside the
    checksum of the whole file."""
    data = src.read_bytes()
    staging = live.with_name(f".staging-{live.name}")
    staging.write_bytes(data[: len(data) // 2])
    os.replace(staging, live)
    shutil.copyfile(checksum_path(src), checksum_path(live))
