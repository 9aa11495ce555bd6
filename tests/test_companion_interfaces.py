"""Each Impact alias keeps Impact's interface exactly (written out here as data), so Impact
users' saved workflows load with our pack alone."""

from __future__ import annotations

import pytest

from animatediff_detailer.nodes.adapter import environment
from animatediff_detailer.nodes.detailer import ImpactDetailerForEachPipeForAnimateDiff
from animatediff_detailer.nodes.segs_nodes import (
    ImpactFromBasicPipe,
    ImpactMaskToSEGSForAnimateDiff,
    ImpactSEGSPaste,
    ImpactToBasicPipe,
)

MAX_RES = environment.max_resolution()
SAMPLERS, SCHEDULERS = "SAMPLERS", "SCHEDULERS"

IMPACT = {
    ImpactMaskToSEGSForAnimateDiff: dict(
        required=[
            ("mask", "MASK", {}),
            ("combined", "BOOLEAN", {"default": False, "label_on": "True", "label_off": "False"}),
            ("crop_factor", "FLOAT", {"default": 3.0, "min": 1.0, "max": 100, "step": 0.1}),
            ("bbox_fill", "BOOLEAN", {"default": False, "label_on": "enabled", "label_off": "disabled"}),
            ("drop_size", "INT", {"min": 1, "max": MAX_RES, "step": 1, "default": 10}),
            ("contour_fill", "BOOLEAN", {"default": False, "label_on": "enabled", "label_off": "disabled"}),
        ],
        optional=[],
        returns=("SEGS",), names=None, is_list=None, category="ImpactPack/Operation",
    ),
    ImpactSEGSPaste: dict(
        required=[
            ("image", "IMAGE", {}),
            ("segs", "SEGS", {}),
            ("feather", "INT", {"default": 5, "min": 0, "max": 100, "step": 1}),
            ("alpha", "INT", {"default": 255, "min": 0, "max": 255, "step": 1}),
        ],
        optional=[("ref_image_opt", "IMAGE", {})],
        returns=("IMAGE",), names=None, is_list=None, category="ImpactPack/Detailer",
    ),
    ImpactToBasicPipe: dict(
        required=[("model", "MODEL", {}), ("clip", "CLIP", {}), ("vae", "VAE", {}),
                  ("positive", "CONDITIONING", {}), ("negative", "CONDITIONING", {})],
        optional=[],
        returns=("BASIC_PIPE",), names=("basic_pipe",), is_list=None, category="ImpactPack/Pipe",
    ),
    ImpactFromBasicPipe: dict(
        required=[("basic_pipe", "BASIC_PIPE", {})],
        optional=[],
        returns=("MODEL", "CLIP", "VAE", "CONDITIONING", "CONDITIONING"),
        names=("model", "clip", "vae", "positive", "negative"), is_list=None, category="ImpactPack/Pipe",
    ),
    ImpactDetailerForEachPipeForAnimateDiff: dict(
        required=[
            ("image_frames", "IMAGE", {}),
            ("segs", "SEGS", {}),
            ("guide_size", "FLOAT", {"default": 512, "min": 64, "max": MAX_RES, "step": 8}),
            ("guide_size_for", "BOOLEAN", {"default": True, "label_on": "bbox", "label_off": "crop_region"}),
            ("max_size", "FLOAT", {"default": 1024, "min": 64, "max": MAX_RES, "step": 8}),
            ("seed", "INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
            ("steps", "INT", {"default": 20, "min": 1, "max": 10000}),
            ("cfg", "FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0}),
            ("sampler_name", SAMPLERS, {}),
            ("scheduler", SCHEDULERS, {}),
            ("denoise", "FLOAT", {"default": 0.5, "min": 0.0001, "max": 1.0, "step": 0.01}),
            ("feather", "INT", {"default": 5, "min": 0, "max": 100, "step": 1}),
            ("basic_pipe", "BASIC_PIPE", {}),
            ("refiner_ratio", "FLOAT", {"default": 0.2, "min": 0.0, "max": 1.0}),
        ],
        optional=[
            ("detailer_hook", "DETAILER_HOOK", {}),
            ("refiner_basic_pipe_opt", "BASIC_PIPE", {}),
            ("noise_mask_feather", "INT", {"default": 20, "min": 0, "max": 100, "step": 1}),
            ("scheduler_func_opt", "SCHEDULER_FUNC", {}),
        ],
        returns=("IMAGE", "SEGS", "BASIC_PIPE", "IMAGE"), names=("image", "segs", "basic_pipe", "cnet_images"),
        is_list=(False, False, False, True), category="ImpactPack/Detailer",
    ),
}


def _type_matches(declared, expected):
    if expected == SAMPLERS:
        return declared == environment.sampler_names()
    if expected == SCHEDULERS:
        return declared == environment.scheduler_names()
    return declared == expected


@pytest.mark.parametrize("node_class", list(IMPACT), ids=lambda c: c.__name__)
def test_alias_has_impacts_interface(node_class):
    expected = IMPACT[node_class]
    inputs = node_class.INPUT_TYPES()
    required = inputs["required"]
    optional = inputs.get("optional", {})
    assert list(required) == [name for name, _, _ in expected["required"]]
    assert list(optional)[: len(expected["optional"])] == [name for name, _, _ in expected["optional"]]
    for name, kind, options in expected["required"] + expected["optional"]:
        spec = required.get(name) or optional[name]
        assert _type_matches(spec[0], kind), name
        declared = spec[1] if len(spec) > 1 else {}
        for key, value in options.items():
            assert declared.get(key) == value, f"{name}.{key}"
        assert all(key in options for key in ("default", "min", "max", "step", "label_on", "label_off") if key in declared), name
        assert declared.get("tooltip"), f"{name} has a tooltip"
    assert node_class.RETURN_TYPES == expected["returns"]
    assert getattr(node_class, "RETURN_NAMES", None) == expected["names"] or expected["names"] is None
    assert getattr(node_class, "OUTPUT_IS_LIST", None) == expected["is_list"]
    assert node_class.FUNCTION == "doit"
    assert node_class.CATEGORY == expected["category"]
