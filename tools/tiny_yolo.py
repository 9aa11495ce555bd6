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

import argparse
import logging
import os
from pathlib import Path

from tiny_checkpoint import default_cache_dir

log = logging.getLogger(__name__)

SEED = 20240601
FILE_NAME = "adtest-yolov8n-random-v1.pt"  # bump the version when the build changes


def ensure_tiny_yolo(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the random-weight YOLOv8n file, building it in ``cache_dir`` when missing.

    Raises ImportError when ``ultralytics`` is not installed.
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    if path.is_file() and path.stat().st_size > 0:
        return str(path)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch
    from ultralytics import YOLO

    log.info("Building a random-weight YOLOv8n at %s", path)
    torch.manual_seed(SEED)
    model = YOLO("yolov8n.yaml")
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.pt")
    model.save(str(partial))
    os.replace(partial, path)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help=f"where to keep the file (default: {default_cache_dir()})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(ensure_tiny_yolo(args.cache_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
