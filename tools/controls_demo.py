"""Measure the detailer's per-frame controls on a real clip of a person and draw the README's pictures.

    COMFYUI_PATH=~/ComfyUI python tools/controls_demo.py [--out docs/] [--frames 24]

The clip is one of ComfyUI's template videos of people (``comfyui_workflow_templates_media_video``,
installed with ComfyUI's requirements: a woman dancing in a field, 90 frames of 350x350), read from
site-packages at run time and never copied into the repository. A digital zoom pushes in on her face
over the clip (1x to 2.6x, as a camera moving closer), so the face grows from about 35 to 110 px in the
256x256 frames: the subject whose size the controls follow. Her face's box was marked by hand on four
frames (:data:`FACE_KEYFRAMES`) and is interpolated between them; its ellipse is the SEG's mask.

The detailer runs with the generated tiny SD1.5 checkpoint (random weights: the pictures show which
frames are redrawn and how strongly, not quality), 4 steps, denoise 0.6, guide_size 64, tracked crop:
once plain, once per control. Printed: per-frame subject size, redraw strength (the mean change inside
the mask), what the size gate kept untouched, the correction-only paste's distance from the original,
and the frame-to-frame flicker with and without shared noise. Written: ``controls_<name>.png``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import comfy_headless
import tiny_checkpoint
from before_after import as_uint8_frames

log = logging.getLogger("controls_demo")
REPO_ROOT = Path(__file__).resolve().parent.parent
CLIP_PACKAGE = "comfyui_workflow_templates_media_video"
CLIP_FILE = "templates/video_wan_vace_14B_v2v-1.webp"
# Her face's box (x1, y1, x2, y2) in the clip's 350x350 pixels, marked by hand on these frames.
FACE_KEYFRAMES = {0: (205, 85, 250, 140), 30: (205, 82, 252, 140), 60: (220, 72, 262, 135), 89: (218, 78, 262, 140)}
SIZE = 256
ZOOM_END = 2.6
OUR = "AnimateDiffDetailer_"
CHECKPOINT_NAME = "controls-demo-tiny-sd15.safetensors"
# The runs: plain, and each control on its own; denoise by size with the correction-only paste, so the
# change it shows is the model's alone (the random VAE's round trip would swamp it), against the
# correction-only run as its baseline.
CONTROLS = {
    "plain": {},
    "correction_only": {"correction_only": True},
    "denoise_by_size": {"denoise_by_size": True, "large_subject_denoise": 0.15, "correction_only": True},
    "size_gate": {"size_gate": 64},
    "shared_noise": {"shared_noise": True},
}
DENOISE, LARGE_DENOISE, GUIDE_SIZE = 0.6, 0.15, 64


def clip_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(CLIP_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{CLIP_PACKAGE} is not installed: it comes with ComfyUI's requirements")
    return Path(list(spec.submodule_search_locations)[0]) / CLIP_FILE


def face_box(frame: int) -> np.ndarray:
    """The hand-marked face box of a frame of the clip, linear between the marked frames."""
    keys = sorted(FACE_KEYFRAMES)
    after = next((k for k in keys if k >= frame), keys[-1])
    before = max((k for k in keys if k <= frame), default=keys[0])
    t = 0.0 if after == before else (frame - before) / (after - before)
    return (1 - t) * np.array(FACE_KEYFRAMES[before], float) + t * np.array(FACE_KEYFRAMES[after], float)


def zoomed_clip(frames: int) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """IMAGE ``[F, 256, 256, 3]`` pushing in on her face, its ellipse MASK ``[F, 256, 256]``, and the face's
    shorter side per frame in output pixels."""
    source = Image.open(clip_path())
    step = max(1, source.n_frames // frames)
    images, masks, sides = [], [], []
    for index in range(frames):
        frame = index * step
        source.seek(frame)
        picture = source.convert("RGB")
        zoom = 1.0 + (ZOOM_END - 1.0) * index / max(1, frames - 1)
        x1, y1, x2, y2 = face_box(frame)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = picture.width / zoom / 2
        left = min(max(cx - half, 0), picture.width - 2 * half)
        top = min(max(cy - half, 0), picture.height - 2 * half)
        scale = SIZE / (2 * half)
        images.append(np.asarray(picture.resize((SIZE, SIZE), Image.BICUBIC, box=(left, top, left + 2 * half, top + 2 * half))))
        mask = Image.new("L", (SIZE, SIZE), 0)
        box = ((x1 - left) * scale, (y1 - top) * scale, (x2 - left) * scale, (y2 - top) * scale)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
        masks.append(np.asarray(mask))
        sides.append(min(box[2] - box[0], box[3] - box[1]))
    image = torch.from_numpy(np.stack(images)).float() / 255.0
    mask = torch.from_numpy(np.stack(masks)).float() / 255.0
    return image, mask, sides


def run_detailer(harness, frames: torch.Tensor, masks: torch.Tensor, extra: dict) -> torch.Tensor:
    """Our detailer then our paste (colour match off) on the frames: the pasted frames."""
    node = harness.node_class
    model, clip, vae = node("CheckpointLoaderSimple")().load_checkpoint(CHECKPOINT_NAME)[:3]
    positive = node("CLIPTextEncode")().encode(clip, "a detailed face, sharp focus")[0]
    negative = node("CLIPTextEncode")().encode(clip, "blurry")[0]
    pipe = node(OUR + "ToBasicPipe")().doit(model, clip, vae, positive, negative)[0]
    segs = node(OUR + "MaskToSEGS")().doit(masks, False, 2.0, False, 10, False, "face")[0]
    detailer = node(OUR + "SEGSDetailerForAnimateDiff")()
    refined, _ = detailer.doit(image_frames=frames, segs=segs, guide_size=GUIDE_SIZE, guide_size_for=True,
                               max_size=192, seed=7, steps=4, cfg=5.0, sampler_name="euler_ancestral",
                               scheduler="normal", denoise=DENOISE, basic_pipe=pipe, refiner_ratio=0.0, noise_mask_feather=0,
                               sampling_precision="fp32", vae_encode_precision="fp32", vae_decode_precision="fp32",
                               **extra)
    return node(OUR + "SEGSPaste")().doit(frames, refined, 0, 255, None, False)[0]


def change_inside(pasted: torch.Tensor, frames: torch.Tensor, masks: torch.Tensor) -> list[float]:
    """Mean absolute change per frame inside the mask (0..1 pixel values)."""
    inside = masks > 0.5
    return [float((pasted[f] - frames[f]).abs()[inside[f]].mean()) if bool(inside[f].any()) else 0.0
            for f in range(frames.shape[0])]


def flicker(pasted: torch.Tensor, frames: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean frame-to-frame change of what the detailer added inside the mask (its own flicker)."""
    added = (pasted - frames) * (masks > 0.5).unsqueeze(-1)
    return float((added[1:] - added[:-1]).abs().mean())


def strip(rows: list[tuple[str, torch.Tensor]], picks: list[int], notes: dict[str, list[str]] | None = None) -> Image.Image:
    """A grid: one row per ``(label, frames)``, the frames ``picks`` across, a note under each tile."""
    tile, label_width, note_height = 128, 120, 16
    picture = Image.new("RGB", (label_width + tile * len(picks), len(rows) * (tile + note_height)), (24, 24, 24))
    draw = ImageDraw.Draw(picture)
    for row, (label, frames) in enumerate(rows):
        top = row * (tile + note_height)
        draw.text((6, top + tile // 2 - 6), label, fill=(230, 230, 230))
        images = as_uint8_frames(frames)
        for column, frame in enumerate(picks):
            picture.paste(Image.fromarray(images[frame]).resize((tile, tile), Image.BICUBIC),
                          (label_width + column * tile, top))
            note = (notes or {}).get(label, [""] * len(picks))[column]
            draw.text((label_width + column * tile + 4, top + tile + 2), note, fill=(200, 200, 200))
    return picture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        raise SystemExit("set COMFYUI_PATH to a ComfyUI checkout")

    frames, masks, sides = zoomed_clip(args.frames)
    checkpoint = Path(tiny_checkpoint.ensure_tiny_checkpoint())
    with tempfile.TemporaryDirectory() as work:
        models = Path(work) / "checkpoints"
        models.mkdir()
        (models / CHECKPOINT_NAME).symlink_to(checkpoint)
        harness = comfy_headless.ComfyHarness(comfy_path, work, {"comfyui-animatediff-detailer": REPO_ROOT},
                                              {"checkpoints": [models]}).boot()
        with torch.inference_mode():
            pasted = {name: run_detailer(harness, frames, masks, extra) for name, extra in CONTROLS.items()}
        controls = harness.pack_module("core.subject_controls")
        sizes, _ = controls.subject_sizes(masks)
        strength = controls.denoise_by_size(sizes, GUIDE_SIZE, DENOISE, LARGE_DENOISE).tolist()

    picks = [round(i * (args.frames - 1) / 5) for i in range(6)]
    change = {name: change_inside(result, frames, masks) for name, result in pasted.items()}
    untouched = [f for f in range(args.frames) if torch.equal(pasted["size_gate"][f], frames[f])]
    print("| frame | face px | denoise by size: strength | change: correction-only | correction-only + by size "
          "| size gate 64 |")
    print("|---|---|---|---|---|---|")
    for f in range(args.frames):
        print(f"| {f} | {sides[f]:.0f} | {strength[f]:.2f} | {change['correction_only'][f]:.3f} | "
              f"{change['denoise_by_size'][f]:.3f} | "
              f"{'untouched' if f in untouched else format(change['size_gate'][f], '.3f')} |")
    print(f"\nsize gate 64 px: {len(untouched)} of {args.frames} frames untouched bit for bit: {untouched}")
    print(f"change inside the mask, mean over the clip: plain {np.mean(change['plain']):.3f}, "
          f"correction-only {np.mean(change['correction_only']):.3f}")
    print(f"flicker (frame-to-frame change of what was added): plain {flicker(pasted['plain'], frames, masks):.4f}, "
          f"shared noise {flicker(pasted['shared_noise'], frames, masks):.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    size_notes = [f"{sides[f]:.0f}px" for f in picks]
    strip([("original", frames), ("correction", pasted["correction_only"]), ("+ by size", pasted["denoise_by_size"])],
          picks, {"original": size_notes, "correction": [f"{change['correction_only'][f]:.2f}" for f in picks],
                  "+ by size": [f"s {strength[f]:.2f}: {change['denoise_by_size'][f]:.2f}" for f in picks]},
          ).save(args.out / "controls_denoise_by_size.png")
    strip([("original", frames), ("size gate 64", pasted["size_gate"])], picks,
          {"original": size_notes, "size gate 64": ["untouched" if f in untouched else f"{change['size_gate'][f]:.2f}"
                                                    for f in picks]}).save(args.out / "controls_size_gate.png")
    strip([("original", frames), ("plain", pasted["plain"]), ("correction", pasted["correction_only"])], picks[:3],
          ).save(args.out / "controls_correction_only.png")
    strip([("plain", pasted["plain"]), ("shared noise", pasted["shared_noise"])], picks[:4],
          ).save(args.out / "controls_shared_noise.png")
    log.info("pictures written to %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
