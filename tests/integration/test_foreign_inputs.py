"""Through ComfyUI's engine: inputs as other nodes emit them. Half-precision frames are detailed
in float32, 0..255 masks are read as levels, negative masks are refused naming the input, and a
SEG whose mask is empty in every frame is passed through without any model work."""

from __future__ import annotations

import pytest
import torch

from comfy_harness import OUR_PASTE, ClipSettings, DetailSettings, Graph, seg_union_masks
from pipelines import build_pipeline, run_recorded

CLIP = ClipSettings(frames=4, width=96, height=96, seed=11)
DETAIL = DetailSettings(steps=2)


def retyped_pipeline(comfy, retypes: list[tuple[str, float]], record_tag: str):
    """The standard graph with the clip's frames cast and its mask scaled by each ``(dtype,
    mask_scale)`` in turn before they reach MaskToSEGS, the detailer and the paste."""
    pipeline = build_pipeline(comfy, clip=CLIP, detail=DETAIL, record_tag=record_tag, pastes={"paste": OUR_PASTE},
                              crop_mode="union")
    g, ids = pipeline.graph, pipeline.ids
    source = ids["clip"]
    for dtype, mask_scale in retypes:
        source = g.add("TestRetype", images=Graph.out(source, 0), mask=Graph.out(source, 1), dtype=dtype,
                       mask_scale=mask_scale)
    ids["retype"] = source
    g.set(ids["segs"], mask=Graph.out(source, 1))
    g.set(ids["detailer"], image_frames=Graph.out(source, 0))
    g.set(ids["paste"], image=Graph.out(source, 0))
    return pipeline


@pytest.fixture(scope="module")
def float32_run(comfy):
    """The unrounded float32 clip detailed once, the yardstick of both half-precision runs."""
    return run_recorded(comfy, retyped_pipeline(comfy, [("float32", 1.0)], "float32"), "frames float32, mask 0..1")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_frames_and_0_to_255_masks_are_detailed_like_float32(comfy, dtype, report, float32_run):
    """The half-precision run equals, bit for bit, the float32 run on the same frames widened to
    float32 with a 0..1 mask: the only difference from the original float32 clip is the rounding
    of the frames to half precision (measured and reported)."""
    half = run_recorded(comfy, retyped_pipeline(comfy, [(dtype, 255.0)], dtype), f"frames {dtype}, mask 0..255")
    widened = run_recorded(comfy, retyped_pipeline(comfy, [(dtype, 1.0), ("float32", 1.0)], f"{dtype}-widened"),
                           f"frames {dtype} widened to float32, mask 0..1")
    original = float32_run
    (refined,), (reference,), (unrounded,) = half.segs()[1], widened.segs()[1], original.segs()[1]
    assert refined.cropped_image.dtype == torch.float32 and refined.cropped_image.shape == reference.cropped_image.shape
    assert float(torch.as_tensor(refined.cropped_mask).max()) <= 1.0
    assert torch.equal(torch.as_tensor(refined.cropped_mask), torch.as_tensor(reference.cropped_mask))
    assert torch.equal(refined.cropped_image, reference.cropped_image)
    rounding = float((half.output("retype", 0).to(torch.float32) - original.output("retype", 0)).abs().max())
    difference = float((refined.cropped_image - unrounded.cropped_image).abs().max())
    report["measurements"].append(f"{dtype} frames (rounding up to {rounding:.5f}) + 0..255 mask: refined crops equal "
                                  f"the widened run; they differ from the unrounded float32 run by {difference:.5f}")

    pasted = half.output("paste")
    frames = half.output("retype", 0).to(torch.float32)
    assert pasted.dtype == torch.float32 and pasted.shape == frames.shape
    outside = seg_union_masks(half.segs(), CLIP.frames, CLIP.height, CLIP.width) == 0
    assert torch.equal(pasted[outside], frames[outside]), "pixels outside every mask changed"
    assert len(half.sample_calls) == 1


def test_a_negative_mask_is_refused_naming_the_input(comfy):
    pipeline = retyped_pipeline(comfy, [("float32", -1.0)], "negative")
    result = comfy.run(pipeline.graph, check=False)
    assert not result.success
    assert "mask holds values" in result.error["exception_message"]
    assert "0..1" in result.error["exception_message"]


def test_a_seg_with_an_empty_mask_is_passed_through_without_model_work(comfy):
    pipeline = build_pipeline(comfy, clip=CLIP, detail=DETAIL, record_tag="blank", pastes={"paste": OUR_PASTE})
    g, ids = pipeline.graph, pipeline.ids
    ids["blank"] = g.add("TestBlankSegMasks", segs=Graph.out(ids["segs"]))
    g.set(ids["detailer"], segs=Graph.out(ids["blank"]))
    recorded = run_recorded(comfy, pipeline, "SEG with an empty mask")
    assert recorded.sample_calls == [] and recorded.unet_calls == []
    (seg,) = recorded.segs()[1]
    assert not bool(torch.as_tensor(seg.cropped_mask).any())
    assert torch.equal(recorded.output("paste"), recorded.frames())
