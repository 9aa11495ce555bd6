"""A random-weight YOLOv8n detector file, for running Impact Subpack's real Ultralytics detector offline.

``ultralytics`` builds a YOLOv8n from the architecture file it ships (``yolov8n.yaml``) without
downloading anything; its weights are random (seeded), so it finds nothing at any usable threshold
(its highest confidence is about 0.0002). That is enough to drive ``UltralyticsDetectorProvider``'s
BBOX_DETECTOR through its real ``detect`` on every frame. Needs the ``ultralytics`` package (it comes
with Impact Subpack). Cached outside the repository, written atomically.

Run as a script to build (or find) the file and print its path::

    python tools/tiny_yolo.py [--cache-dir DIR]
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tiny_checkpoint import ensure_cached_file, generator_cli

log = logging.getLogger(__name__)

SEED = 20240601
FILE_NAME = "adtest-yolov8n-random-v1.pt"  # bump the version when the build changes


def ensure_tiny_yolo(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the random-weight YOLOv8n file, building it in ``cache_dir`` (default
    :func:`tiny_checkpoint.default_cache_dir`) when missing.

    Raises ImportError when ``ultralytics`` is not installed.
    """
    return ensure_cached_file(FILE_NAME, cache_dir, _build, is_complete=lambda path: path.stat().st_size > 0)


def _build(path: Path) -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch
    from ultralytics import YOLO

    log.info("Building a random-weight YOLOv8n at %s", path)
    torch.manual_seed(SEED)
    model = YOLO("yolov8n.yaml")
    if model.ckpt is None:  # ultralytics 8.3.40 (Impact Subpack's pin) saves a yaml-built model only over a dict
        model.ckpt = {}
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.pt")
    try:
        model.save(str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or find) the file and print its path and size."""
    return generator_cli(__doc__, argv, lambda args: [(ensure_tiny_yolo(args.cache_dir), "random-weight YOLOv8n")])


if __name__ == "__main__":
    raise SystemExit(main())
