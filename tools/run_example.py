"""Run example workflow (a) headless through ComfyUI's own engine, on your frames or a generated clip.

    COMFYUI_PATH=~/ComfyUI python tools/run_example.py                      # generated clip, tiny model
    COMFYUI_PATH=~/ComfyUI python tools/run_example.py --input clip.mp4 \\
        --checkpoint v1-5-pruned-emaonly.safetensors --box 180,60,160,160   # your video, your model

Use the Python of the ComfyUI install. ComfyUI boots in this process on the CPU (``--gpu`` uses
its default device) with this pack alone, the workflow JSON is converted to the API format
the server would queue, your inputs are put into it, and it runs with progress shown. The
detailed frames (SaveImage PNGs) and ``before_after.png`` land in ``--out``.

Inputs: ``--input`` is a folder of images (sorted by name, all one size) or a video file
ComfyUI can read (LoadVideo); without it a clip of a moving subject is generated. The example
finds that subject with ComfyUI's own mask nodes (bright green); on your footage say where to
detail with ``--box X,Y,W,H`` in pixels, or it details the centre of the frame. Without
``--checkpoint`` (a name in ComfyUI's checkpoints folder, or a file path), a tiny SD1.5
checkpoint with random weights is generated: it shows the mechanism, not quality.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import before_after
import comfy_headless
import example_clip
import workflow_ui
import tiny_checkpoint

log = logging.getLogger("run_example")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKFLOW = REPO_ROOT / "example_workflows" / "video_detailer.json"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
FRAMES_FILE_NAME = "run_example_frames.webp"


# --- inputs ----------------------------------------------------------------------------------


def load_image_folder(folder: Path, max_frames: int | None) -> np.ndarray:
    """The folder's images sorted by name, as uint8 ``[frames, height, width, 3]``."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:max_frames]
    if not paths:
        raise SystemExit(f"--input {folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    sizes = {f.shape[:2] for f in frames}
    if len(sizes) != 1:
        raise SystemExit(f"--input {folder}: the images differ in size {sorted(sizes)}; resize them to one size")
    return np.stack(frames)


def place_in_input(source: Path, target: Path) -> None:
    """Put ``source`` in ComfyUI's input folder as ``target``: a hard link where the file system
    allows, else a copy. Not a symlink: ComfyUI refuses input files that resolve outside the folder."""
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)


def video_size(path: Path) -> tuple[int, int]:
    """Width and height of a video's first stream, read with PyAV (what ComfyUI's LoadVideo uses)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return stream.codec_context.width, stream.codec_context.height
    except (av.error.FFmpegError, IndexError) as error:
        raise SystemExit(f"--input {path}: not a video ComfyUI can read ({error})") from error


def parse_box(text: str | None, width: int, height: int) -> tuple[int, int, int, int]:
    """``X,Y,W,H`` in pixels, checked against the frame; without it the middle 40% of the frame."""
    if text is None:
        w, h = max(8, round(width * 0.4)), max(8, round(height * 0.4))
        return (width - w) // 2, (height - h) // 2, w, h
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"--box {text!r}: give four integers X,Y,W,H in pixels, e.g. --box 100,80,128,128") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise SystemExit(f"--box {text}: must lie inside the {width}x{height} frame with a positive size")
    return x, y, w, h


def tiny_checkpoint_path() -> Path:
    """The generated tiny SD1.5 checkpoint (random weights), built once and cached."""
    return Path(tiny_checkpoint.ensure_tiny_checkpoint(vae="taesd"))


# --- the graph -------------------------------------------------------------------------------


def node_of(prompt: dict, class_type: str) -> str:
    """The id of the one node of ``class_type`` in an API prompt."""
    found = [node_id for node_id, node in prompt.items() if node["class_type"] == class_type]
    if len(found) != 1:
        raise SystemExit(f"the workflow must have exactly one {class_type} node, it has {len(found)}")
    return found[0]


def new_node_id(prompt: dict) -> str:
    return str(max(int(k) for k in prompt if k.isdigit()) + 1)


def use_video(prompt: dict, frames_node: str, file_name: str) -> None:
    """Load the frames with ComfyUI's LoadVideo + GetVideoComponents instead of LoadImage."""
    prompt[frames_node] = {"class_type": "LoadVideo", "inputs": {"file": file_name}, "_meta": {"title": "Load video"}}
    components = new_node_id(prompt)
    prompt[components] = {"class_type": "GetVideoComponents", "inputs": {"video": [frames_node, 0]},
                          "_meta": {"title": "Video frames"}}
    for node_id, node in prompt.items():
        if node_id == components:
            continue
        for name, value in node["inputs"].items():
            if value == [frames_node, 0]:
                node["inputs"][name] = [components, 0]


def use_box_mask(prompt: dict, segs_node: str, box: tuple[int, int, int, int], width: int, height: int) -> None:
    """Detail a fixed box: a mask built from ComfyUI's SolidMask and MaskComposite feeds MaskToSEGS."""
    x, y, w, h = box
    canvas = new_node_id(prompt)
    prompt[canvas] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": width, "height": height},
                      "_meta": {"title": "Frame"}}
    patch = new_node_id(prompt)
    prompt[patch] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": w, "height": h},
                     "_meta": {"title": "Box"}}
    composite = new_node_id(prompt)
    prompt[composite] = {"class_type": "MaskComposite", "inputs": {
        "destination": [canvas, 0], "source": [patch, 0], "x": x, "y": y, "operation": "add"},
        "_meta": {"title": "Box mask"}}
    prompt[segs_node]["inputs"]["mask"] = [composite, 0]


# --- progress --------------------------------------------------------------------------------


class ProgressPrinter:
    """Prints which node runs and a progress bar for long nodes, from the executor's events."""

    def __init__(self, prompt: dict, stream=sys.stderr) -> None:
        self.titles = {node_id: node.get("_meta", {}).get("title") or node["class_type"] for node_id, node in prompt.items()}
        self.stream = stream
        self.started = time.perf_counter()
        self.bar_open = False

    def __call__(self, event: str, data) -> None:
        if not isinstance(data, dict):
            return
        if event == "executing" and data.get("node") is not None:
            self._end_bar()
            self.stream.write(f"[{time.perf_counter() - self.started:7.1f}s] {self.titles.get(data['node'], data['node'])}\n")
        elif event == "progress" and data.get("max"):
            value, total = int(data["value"]), int(data["max"])
            filled = round(30 * value / total)
            self.stream.write(f"\r            [{'#' * filled}{'.' * (30 - filled)}] {value}/{total}")
            self.bar_open = True
        elif event == "execution_error":
            self._end_bar()
            self.stream.write(f"error in {self.titles.get(str(data.get('node_id')), data.get('node_id'))}: "
                              f"{data.get('exception_message')}\n")
        self.stream.flush()

    def _end_bar(self) -> None:
        if self.bar_open:
            self.stream.write("\n")
            self.bar_open = False


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--input", type=Path, help="a folder of images or a video file (default: a generated clip)")
    parser.add_argument("--checkpoint", help="a checkpoint name in ComfyUI's checkpoints folder or a file path "
                                             "(default: a generated tiny SD1.5 with random weights)")
    parser.add_argument("--box", help="X,Y,W,H in pixels: the region to detail in your frames "
                                      "(default with --input: the middle of the frame)")
    parser.add_argument("--frames", type=int, default=16, help="frames of the generated clip (default 16)")
    parser.add_argument("--max-frames", type=int, help="use at most this many frames of --input")
    parser.add_argument("--steps", type=int, help="sampling steps (default: the workflow's)")
    parser.add_argument("--seed", type=int, help="seed (default: the workflow's)")
    parser.add_argument("--denoise", type=float, help="denoise 0..1 (default: the workflow's)")
    parser.add_argument("--out", type=Path, default=Path("animatediff_detailer_output"), help="output folder")
    parser.add_argument("--workflow", type=Path, default=DEFAULT_WORKFLOW, help="a UI-format workflow of the same shape")
    parser.add_argument("--gpu", action="store_true", help="use ComfyUI's default device instead of the CPU")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    comfy_path = os.environ.get("COMFYUI_PATH", "").strip()
    if not comfy_path:
        raise SystemExit("set COMFYUI_PATH to your ComfyUI folder (and run this with ComfyUI's Python)")
    if args.input is not None and not args.input.exists():
        raise SystemExit(f"--input {args.input}: no such file or folder")
    if args.box is not None and args.input is None:
        raise SystemExit("--box is for --input: the generated clip's subject is found by the workflow's mask nodes")
    workflow = json.loads(args.workflow.read_text(encoding="utf-8"))
    out_dir = args.out.resolve()
    work = Path(tempfile.mkdtemp(prefix="adt_run_"))
    checkpoint_dirs = []
    if args.checkpoint is None:
        checkpoint_path = tiny_checkpoint_path()
        checkpoint_dirs.append(checkpoint_path.parent)
        checkpoint_name = checkpoint_path.name
    elif Path(args.checkpoint).is_file():
        checkpoint_dirs.append(Path(args.checkpoint).resolve().parent)
        checkpoint_name = Path(args.checkpoint).name
    else:
        checkpoint_name = args.checkpoint

    input_dir = work / "input"
    input_dir.mkdir(parents=True)
    video_file = None
    if args.input is None:
        frames = example_clip.make_example_clip(frames=args.frames)
        example_clip.write_animated_webp(frames, input_dir / FRAMES_FILE_NAME)
        height, width = frames.shape[1:3]
    elif args.input.is_dir():
        frames = load_image_folder(args.input, args.max_frames)
        example_clip.write_animated_webp(frames, input_dir / FRAMES_FILE_NAME)  # lossless: the exact pixels
        height, width = frames.shape[1:3]
    else:
        video_file = args.input.name
        place_in_input(args.input, input_dir / video_file)
        width, height = video_size(args.input)

    harness = comfy_headless.ComfyHarness(comfy_path, work, packs={comfy_headless.PACK_LINK_NAME: REPO_ROOT},
                                          model_dirs={"checkpoints": checkpoint_dirs}, output_dir=out_dir, cpu=not args.gpu)
    sys.stderr.write("booting ComfyUI...\n")
    harness.boot()
    if checkpoint_name not in harness.list_models("checkpoints"):
        raise SystemExit(f"--checkpoint {args.checkpoint}: not in ComfyUI's checkpoints folder; give a file path")

    prompt = workflow_ui.to_api_prompt(workflow, workflow_ui.node_definitions(harness.nodes.NODE_CLASS_MAPPINGS))
    frames_node = node_of(prompt, "LoadImage")
    segs_node = next((k for k, n in prompt.items() if n["class_type"].endswith("MaskToSEGS")
                      or n["class_type"] == "MaskToSEGS_for_AnimateDiff"), None)
    detailer_node = next(k for k, n in prompt.items() if n["class_type"].endswith("SEGSDetailerForAnimateDiff"))
    paste_node = next(k for k, n in prompt.items() if n["class_type"].endswith("SEGSPaste"))
    prompt[node_of(prompt, "CheckpointLoaderSimple")]["inputs"]["ckpt_name"] = checkpoint_name
    if video_file is None:
        prompt[frames_node]["inputs"]["image"] = FRAMES_FILE_NAME
    else:
        use_video(prompt, frames_node, video_file)
    if args.input is not None and segs_node is not None:
        use_box_mask(prompt, segs_node, parse_box(args.box, width, height), width, height)
    for name in ("steps", "seed", "denoise"):
        if getattr(args, name) is not None:
            prompt[detailer_node]["inputs"][name] = getattr(args, name)

    harness.server.client_id = "run_example"  # the executor reports which node runs only to a client
    harness.server.listeners.append(ProgressPrinter(prompt))
    result = harness.run(prompt, check=False)
    if not result.success:
        sys.stderr.write(f"the workflow failed: {result.describe_failure()}\n")
        return 1
    before = result.output(frames_node, 0) if video_file is None else result.output(_consumer_of(prompt, frames_node), 0)
    after = result.output(paste_node, 0)
    region = before_after.segs_region(result.output(segs_node, 0), pad=4)
    strip = before_after.before_after_strip(before, after, region)
    strip_path = out_dir / "before_after.png"
    strip.save(strip_path)
    sys.stderr.write(f"done in {result.seconds:.1f}s: {after.shape[0]} detailed frames and {strip_path.name} in {out_dir}\n")
    return 0


def _consumer_of(prompt: dict, frames_node: str) -> str:
    """The GetVideoComponents node that decodes a LoadVideo node."""
    return next(k for k, n in prompt.items() if n["class_type"] == "GetVideoComponents"
                and n["inputs"].get("video") == [frames_node, 0])


if __name__ == "__main__":
    raise SystemExit(main())
