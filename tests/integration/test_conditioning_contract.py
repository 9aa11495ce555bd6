"""Every ComfyUI 0.29 node that puts tensors laid over the frame or the clip into CONDITIONING: its real
output, cut for a SEG by the pack's rules, holds nothing of the frame's size any more, or is refused
before any model work with an error naming the entry and the fix.

Each node runs in ComfyUI's engine on a 17-frame 64x64 clip with the tiny VAE of its latent format
(Wan 2.1's for the Wan, Hunyuan and Kandinsky nodes, the tiny SD1.5 checkpoint's for image models,
LTX-Video's for its guides); its positive conditioning is then cut by ``FrameConditioning`` with that
VAE for a SEG cut at a 32x24 region and sampled at 48x32. ``test_video_conditioning.py`` shows the model
receiving the cut entries for the families it has tiny models of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from comfy_harness import CHECKPOINT_NAME, CONTROLNET_NAME, Graph

OUT = Graph.out
SIZE, FRAMES = 64, 17
REGION = (16, 16, 48, 40)  # the SEG's crop in frame pixels (32x24), sampled at 48x32 (a multiple of 16)
SAMPLED = (48, 32)


@dataclass
class Case:
    """A conditioning node, its inputs ("first"/"last"/"clip"/"mask": the clip's frames and mask; a tuple:
    another node's output), the VAE of its latents, and what the cut must give: None when every entry is
    cut, else the key the refusal names."""

    node: str
    inputs: dict
    vae: str = "wan_vae"
    refused: str | None = None
    output: int = 0
    size_inputs: bool = True
    notes: dict = field(default_factory=dict)


CASES = [
    Case("WanImageToVideo", {"start_image": "first"}),
    Case("WanFirstLastFrameToVideo", {"start_image": "first", "end_image": "last"}),
    Case("WanFunInpaintToVideo", {"start_image": "first", "end_image": "last"}),
    Case("WanFunControlToVideo", {"start_image": "first", "control_video": "clip"}),
    Case("Wan22FunControlToVideo", {"ref_image": "first", "control_video": "clip"}),
    Case("WanVaceToVideo", {"control_video": "clip", "control_masks": "mask", "strength": 1.0}),
    Case("WanVaceToVideo", {"control_video": "clip", "control_masks": "mask", "strength": 1.0, "reference_image": "first"}),
    Case("WanCameraImageToVideo", {"start_image": "first", "camera_conditions": (
        "WanCameraEmbedding", {"camera_pose": "Zoom In", "width": SIZE, "height": SIZE, "length": FRAMES})}),
    Case("WanPhantomSubjectToVideo", {"images": "first"}),
    Case("WanTrackToVideo", {"start_image": "first", "tracks": '[[{"x": 20, "y": 20}, {"x": 40, "y": 30}]]',
                             "temperature": 220.0, "topk": 2}),
    Case("WanHuMoImageToVideo", {"ref_image": "first"}),
    Case("WanSoundImageToVideo", {"ref_image": "first", "control_video": "clip"}),
    Case("WanDancerVideo", {"start_image": "first"}, size_inputs=False),
    Case("WanMoveTrackToVideo", {"start_image": "first", "strength": 1.0}),
    Case("WanSoundImageToVideoExtend", {"ref_image": "first", "video_latent": (
        "EmptyHunyuanLatentVideo", {"width": SIZE, "height": SIZE, "length": FRAMES, "batch_size": 1})},
        refused="reference_motion", size_inputs=False),
    Case("LTXVAddGuide", {"image": "first", "frame_idx": 0, "strength": 1.0, "latent": (
        "EmptyLTXVLatentVideo", {"width": SIZE, "height": SIZE, "length": FRAMES, "batch_size": 1})},
        vae="ltxv_vae", refused="keyframe_idxs|guide_attention_entries", size_inputs=False),
    Case("ControlNetApplyAdvanced", {"image": "clip", "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0,
                                     "control_net": ("ControlNetLoader", {"control_net_name": "CONTROLNET"})}, vae=None),
    Case("WanAnimateToVideo", {"reference_image": "first", "pose_video": "clip", "face_video": "clip",
                               "continue_motion_max_frames": 5, "video_frame_offset": 0}, refused="pose_video_latent"),
    Case("BerniniConditioning", {"source_video": "clip"}, refused="context_latents"),
    Case("HunyuanImageToVideo", {"start_image": "first", "guidance_type": "v1 (concat)"}),
    Case("HunyuanImageToVideo", {"start_image": "first", "guidance_type": "v2 (replace)"}),
    Case("HunyuanImageToVideo", {"start_image": "first", "guidance_type": "custom"}),
    Case("Kandinsky5ImageToVideo", {"start_image": "first"}),
    Case("InpaintModelConditioning", {"pixels": "clip", "mask": "mask", "noise_mask": True}, vae="sd15"),
    Case("InstructPixToPixConditioning", {"pixels": "clip"}, vae="sd15"),
    Case("SD_4XUpscale_Conditioning", {"images": "clip", "scale_ratio": 4.0, "noise_augmentation": 0.0}, vae=None),
    Case("ConditioningSetMask", {"mask": "mask", "strength": 1.0, "set_cond_area": "default"}, vae=None),
]


def _ids(case: Case) -> str:
    extra = case.inputs.get("guidance_type") or ("reference" if case.node == "WanVaceToVideo" and "reference_image"
                                                 in case.inputs else "")
    return f"{case.node}-{extra}" if extra else case.node


def build(names: dict[str, str], case: Case) -> tuple[Graph, dict]:
    g, ids = Graph(), {}
    ids["clip"] = g.add("TestClipSource", frames=FRAMES, width=SIZE, height=SIZE, seed=5, x_start=0.35, x_end=0.65)
    ids["first"] = g.add("ImageFromBatch", image=OUT(ids["clip"], 0), batch_index=0, length=1)
    ids["last"] = g.add("ImageFromBatch", image=OUT(ids["clip"], 0), batch_index=FRAMES - 1, length=1)
    feeds = {"first": OUT(ids["first"]), "last": OUT(ids["last"]), "clip": OUT(ids["clip"], 0),
             "mask": OUT(ids["clip"], 1)}
    ids["positive"] = g.add("TestTextConditioning", seed=1, tokens=8, dim=64, scale=0.1)
    ids["negative"] = g.add("TestTextConditioning", seed=2, tokens=8, dim=64, scale=0.1)
    inputs = {"positive": OUT(ids["positive"])}
    if case.node != "ConditioningSetMask":
        inputs["negative"] = OUT(ids["negative"])
    else:
        inputs = {"conditioning": OUT(ids["positive"])}
    if case.node in ("HunyuanImageToVideo",):
        inputs.pop("negative")
    if case.vae == "sd15":
        ids["ckpt"] = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
        inputs["vae"] = OUT(ids["ckpt"], 2)
    elif case.vae is not None:
        ids["vae"] = g.add("VAELoader", vae_name=names[case.vae])
        inputs["vae"] = OUT(ids["vae"])
    if case.vae not in (None, "sd15") and case.size_inputs:
        inputs.update(width=SIZE, height=SIZE, length=FRAMES, batch_size=1)
    elif not case.size_inputs and case.node == "WanDancerVideo":
        inputs.update(width=SIZE, height=SIZE, length=FRAMES)
    elif not case.size_inputs and case.node == "WanSoundImageToVideoExtend":
        inputs.update(length=FRAMES)
    for name, value in case.inputs.items():
        if isinstance(value, tuple):
            node_inputs = {key: CONTROLNET_NAME if item == "CONTROLNET" else item for key, item in value[1].items()}
            ids[name] = g.add(value[0], **node_inputs)
            value = OUT(ids[name])
        inputs[name] = feeds.get(value, value) if isinstance(value, str) else value
    ids["node"] = g.add(case.node, **inputs)
    ids["sink"] = g.add("TestSink", conditioning=OUT(ids["node"], case.output))
    return g, ids


def frame_laid(conditioning, sizes: set[tuple[int, int]]) -> list[tuple[str, tuple]]:
    """``(key, shape)`` of every tensor (also inside lists) whose last two axes are one of ``sizes``."""
    found = []
    for _, options, *_ in conditioning:
        for key, value in options.items():
            items = value if isinstance(value, (list, tuple)) else [value]
            found += [(key, tuple(t.shape)) for t in items if isinstance(t, torch.Tensor) and t.ndim >= 2
                      and tuple(t.shape[-2:]) in sizes]
    return found


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_the_nodes_conditioning_is_cut_to_the_seg_or_refused(comfy, video_model_names, case, report):
    if not comfy.has_node(case.node):
        pytest.fail(f"ComfyUI 0.29 has no node {case.node}")
    graph, ids = build(video_model_names, case)
    result = comfy.run(graph, label=f"{_ids(case)} conditioning", keep_models=True)
    positive = result.output(ids["node"], case.output)
    frame_conditioning = comfy.pack_module("core.frame_conditioning")
    rules = comfy.pack_module("core.frame_rules")
    geometry = comfy.pack_module("core.geometry")
    crop_windows = comfy.pack_module("core.crop_windows")
    adapter_vae = comfy.pack_module("nodes.adapter.vae")
    enhance = comfy.pack_module("core.enhance")

    vae = result.output(ids.get("vae") or ids.get("ckpt"), 0 if "vae" in ids else 2) if case.vae else None
    runner = adapter_vae.VaeRunner(vae, "fp32", 2 if case.vae != "sd15" else 1, "fp32") if vae is not None else None
    layout = runner.layout if runner is not None else geometry.LatentLayout()

    class Backend:  # the detail pass's backend, as far as the cut uses it: the pipe VAE's calls
        def encode(self, pixels):
            return runner.encode(pixels)

        def decode(self, latent):
            return runner.decode(latent)

        def frames_per_batch(self, width, height):
            return 1

    backend = Backend()
    backend.layout = layout
    clip = rules.Clip(FRAMES, SIZE, SIZE, layout)
    cutter = frame_conditioning.FrameConditioning(
        clip, lambda crops, width, height: enhance.encode_crops(crops, width, height, backend),
        lambda latent: enhance.decode_latent(latent, backend), comfy.pack_module("nodes.adapter.controlnet").cut_control)
    conditionings = comfy.pack_module("core.conditioning").Conditionings(positive, None)
    before = frame_laid(positive, {(SIZE, SIZE), clip.latent_size})
    if case.refused:
        with pytest.raises(ValueError, match=f"'{case.refused}'") as error:
            cutter.check(conditionings)
        report["measurements"].append(f"{_ids(case)}: refused: {str(error.value)[:140]}")
        return
    cutter.check(conditionings)
    seg = rules.SegCut(crop_windows.CropWindows.fixed(REGION, FRAMES), geometry.SamplingSize(*SAMPLED, 1.5))
    with torch.inference_mode():  # as the detailer node runs (the node's outputs are inference tensors)
        cut, _ = cutter.cut(conditionings, seg)
    after = frame_laid(cut.positive, {(SIZE, SIZE), clip.latent_size})
    assert not after, f"still laid over the frame after the cut: {after}"
    control = cut.positive[0][1].get("control")
    if control is not None:  # a ControlNet's hint over the frame, cut at the crop (the model fits it to the latent)
        assert tuple(control.cond_hint_original.shape[-2:]) == (REGION[3] - REGION[1], REGION[2] - REGION[0])
        before.append(("control", tuple(positive[0][1]["control"].cond_hint_original.shape)))
    crop = (REGION[3] - REGION[1], REGION[2] - REGION[0])  # ConditioningSetMask: the model stretches the cut
    sampled = {SAMPLED[::-1], (SAMPLED[1] // layout.spatial, SAMPLED[0] // layout.spatial), crop}
    for key, shape in before:
        if key == "control":
            continue
        _, options, *_ = cut.positive[0]
        items = options[key] if isinstance(options[key], (list, tuple)) else [options[key]]
        shapes = [tuple(t.shape[-2:]) for t in items if isinstance(t, torch.Tensor)]
        assert shapes and all(s in sampled for s in shapes), f"{key}: {shapes} is not the SEG's sampled size"
    report["measurements"].append(f"{_ids(case)}: cut {sorted({key for key, _ in before})}")
