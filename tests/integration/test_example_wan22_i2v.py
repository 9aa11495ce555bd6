"""The Wan 2.2 A14B image-to-video example workflow through ComfyUI's engine, with tiny models.

``example_workflows/video_detailer_wan22_i2v.json`` (the browser tier only loads it: it needs the
real umT5-XXL text encoder) runs here as the frontend queues it, with the tiny Wan I2V model in both
experts' loaders, the tiny Wan 2.1 VAE in its VAE loader and, as in the Wan 2.1 example's engine test
(``test_video_detailer.py``), the fixture's seeded 4096-wide conditioning in place of the text encoder
and its prompts. A recording model sits between each expert's ModelSamplingSD3 and its pipe, so the
test sees which expert samples which steps. Everything else is the example's own: the demo clip's
first frame as WanImageToVideo's start image, its size and length, the two pipes sharing that
conditioning, the detailer's settings (refiner_boundary 0.9, tracked crop), the paste, Create Video and
Save Video.
"""

from __future__ import annotations

import json

import pytest
import torch

import example_clip  # tools/
import workflow_ui
from comfy_harness import CHECKPOINT_NAME, OUR_DETAILER, OUR_PASTE, OUR_TO_BASIC_PIPE, REPO_ROOT, seg_union_masks

EXAMPLE = REPO_ROOT / "example_workflows" / "video_detailer_wan22_i2v.json"
BOUNDARY = 0.9  # the example's refiner_boundary
TAGS = {"basic_pipe": "high_noise", "refiner_basic_pipe_opt": "low_noise"}  # detailer input -> recording tag


def padded_frames(frames: int) -> int:
    """Wan's VAE encodes 4n + 1 frames: the count the detailer pads a clip to."""
    return (frames - 1 + 3) // 4 * 4 + 1


def example_with_tiny_models(comfy, names: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The example as the frontend queues it (API format) with the tiny models, and the ids of its
    nodes by role. Each expert's loader is found from the pipe it feeds (the detailer's basic_pipe: the
    high-noise one; refiner_basic_pipe_opt: the low-noise one), checked by its file name, given the tiny
    Wan I2V model, and its model recorded under TAGS before the pipe."""
    prompt = workflow_ui.to_api_prompt(json.loads(EXAMPLE.read_text()),
                                       workflow_ui.node_definitions(comfy.nodes.NODE_CLASS_MAPPINGS))
    by_type: dict[str, list[str]] = {}
    for node_id, node in prompt.items():
        by_type.setdefault(node["class_type"], []).append(node_id)
    (detailer,), (vae,), (text_encoder,) = by_type[OUR_DETAILER], by_type["VAELoader"], by_type["CLIPLoader"]
    ids = {"detailer": detailer, "paste": by_type[OUR_PASTE][0], "frames": by_type["LoadImage"][0],
           "i2v": by_type["WanImageToVideo"][0], "first_frame": by_type["ImageFromBatch"][0]}
    for recorder_id, (pipe_input, tag) in enumerate(TAGS.items(), start=900001):
        pipe = prompt[detailer]["inputs"][pipe_input][0]
        shift = prompt[pipe]["inputs"]["model"][0]
        loader = prompt[shift]["inputs"]["model"][0]
        assert prompt[shift]["class_type"] == "ModelSamplingSD3" and prompt[loader]["class_type"] == "UNETLoader"
        assert tag in prompt[loader]["inputs"]["unet_name"], (pipe_input, prompt[loader]["inputs"]["unet_name"])
        prompt[loader]["inputs"]["unet_name"] = names["wan_i2v"]
        prompt[str(recorder_id)] = {"class_type": "TestRecordingModel", "inputs": {"model": [shift, 0], "tag": tag}}
        prompt[pipe]["inputs"]["model"] = [str(recorder_id), 0]
        prompt[pipe]["inputs"]["clip"] = [text_encoder, 1]
        ids[tag] = loader
    prompt[vae]["inputs"]["vae_name"] = names["wan_vae"]
    prompt[text_encoder] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT_NAME}}
    for seed, node_id in enumerate(by_type["CLIPTextEncode"], start=1):
        prompt[node_id] = {"class_type": "TestTextConditioning",
                           "inputs": {"seed": seed, "tokens": 8, "dim": 4096, "scale": 0.1}}
    assert len(by_type[OUR_TO_BASIC_PIPE]) == 2 and len(by_type["UNETLoader"]) == 2
    return prompt, ids


def test_the_wan22_i2v_example_runs_both_experts_with_tiny_models(comfy, video_model_names, report):
    """The example's graph runs to a saved video on the demo clip: the start image is the clip's first
    frame at the clip's size, the high-noise expert samples the steps from noise level 0.9 up and
    the low-noise expert continues from its latent without new noise; pixels outside the SEGS'
    masks are unchanged."""
    clip = example_clip.make_example_clip()
    example_clip.write_animated_webp(clip, comfy.work_dir / "input" / example_clip.CLIP_FILE_NAME)
    prompt, ids = example_with_tiny_models(comfy, video_model_names)
    frame_count, height, width = clip.shape[:3]
    i2v = prompt[ids["i2v"]]["inputs"]
    assert (i2v["width"], i2v["height"], i2v["length"]) == (width, height, padded_frames(frame_count))
    assert i2v["start_image"] == [ids["first_frame"], 0]
    assert prompt[ids["first_frame"]]["inputs"] == {"image": [ids["frames"], 0], "batch_index": 0, "length": 1}
    assert prompt[ids["detailer"]]["inputs"]["refiner_boundary"] == pytest.approx(BOUNDARY)

    recorder = comfy.recorder()
    recorder.clear()
    result = comfy.run(prompt, label="Wan 2.2 I2V example with the tiny models")
    sample_calls = list(recorder.sample_calls)

    # Both experts sample one video latent (the demo clip has one subject, one SEG) and hand over at 0.9.
    high, low = ([c for c in sample_calls if c["tag"] == tag] for tag in ("high_noise", "low_noise"))
    assert len(high) == 1 and len(low) == 1, [c["tag"] for c in sample_calls]
    high, low = high[0], low[0]
    assert high["time"] < low["time"] and not high["noise_is_zero"] and low["noise_is_zero"]
    steps = prompt[ids["detailer"]]["inputs"]["steps"]
    assert len(high["sigmas"]) - 1 > 0 and len(high["sigmas"]) + len(low["sigmas"]) - 2 == steps
    assert all(sigma >= BOUNDARY for sigma in high["sigmas"][:-1]), high["sigmas"]  # flow model: sigma = level
    assert low["sigmas"][0] == pytest.approx(high["sigmas"][-1]) and low["sigmas"][0] < BOUNDARY
    latent_frames = (padded_frames(frame_count) - 1) // 4 + 1
    assert high["latent_shape"] == low["latent_shape"] and high["latent_shape"][:3] == (1, 16, latent_frames)
    for tag in ("high_noise", "low_noise"):
        calls = recorder.calls(tag)
        assert calls and all(len(c["x_shape"]) == 5 and c["x_shape"][1:3] == (16, latent_frames) for c in calls), tag

    frames, pasted = result.output(ids["frames"]), result.output(ids["paste"])
    assert pasted.shape == frames.shape == (frame_count, height, width, 3)
    outside = seg_union_masks(result.output(ids["detailer"]), frame_count, height, width) == 0
    assert torch.equal(pasted[outside], frames[outside]), "pixels outside every mask changed"
    assert not torch.equal(pasted, frames), "nothing was detailed"
    video_files = sorted(path for path in comfy.output_dir.rglob("wan22_i2v_detailed_*"))
    assert video_files and all(path.stat().st_size > 0 for path in video_files), (
        f"Save Video wrote nothing to {comfy.output_dir}")
    report["measurements"].append(
        f"Wan 2.2 I2V example, tiny models: {result.seconds:.1f}s; high-noise expert {len(high['sigmas']) - 1} steps "
        f"from sigma {high['sigmas'][0]:.3f}, low-noise {len(low['sigmas']) - 1} from {low['sigmas'][0]:.3f}; "
        f"latent {high['latent_shape']}; saved {[path.name for path in video_files]}")
