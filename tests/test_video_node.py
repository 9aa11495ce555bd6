"""The VIDEO detailer's interface (the detail-and-paste node's inputs, declared once, with a VIDEO in
place of the frames) and its checks that need no ComfyUI; the declarations of this pack's SAM3 and
VIDEO nodes (ids, display names, tooltips, descriptions)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from animatediff_detailer.core.segs import SEG
from animatediff_detailer.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from animatediff_detailer.nodes.detailer import DetailerForEachPipeForAnimateDiff
from animatediff_detailer.nodes.registry import DISPLAY_SUFFIX
from animatediff_detailer.nodes.segs_nodes import MaskToSEGSForVideo, TrackSEGSForVideo
from animatediff_detailer.nodes.video_nodes import SAM3TrackToSEGS, VideoDetailerForEachPipe
from test_node import PIPE


def test_its_inputs_are_the_detail_and_paste_nodes_with_a_video_for_the_frames():
    video = VideoDetailerForEachPipe.INPUT_TYPES()
    image = DetailerForEachPipeForAnimateDiff.INPUT_TYPES()
    assert list(video["required"]) == ["video"] + list(image["required"])[1:]
    assert video["required"]["video"][0] == "VIDEO"
    assert {k: v for k, v in video["required"].items() if k != "video"} == {
        k: v for k, v in image["required"].items() if k != "image_frames"}
    assert video["optional"] == image["optional"]
    assert VideoDetailerForEachPipe.RETURN_TYPES == ("VIDEO", "SEGS", "BASIC_PIPE", "IMAGE")
    assert VideoDetailerForEachPipe.OUTPUT_IS_LIST == DetailerForEachPipeForAnimateDiff.OUTPUT_IS_LIST


class FakeVideo:
    """What a VIDEO hands out (ComfyUI's VideoComponents fields)."""

    def __init__(self, frames: torch.Tensor) -> None:
        self.components = SimpleNamespace(images=frames, frame_rate=12, audio={"waveform": torch.rand(1, 2, 800),
                                                                               "sample_rate": 8000},
                                          metadata={"title": "clip"}, alpha=None)

    def get_components(self):
        return self.components

    def get_bit_depth(self) -> int:
        return 8


def call(video, segs):
    return VideoDetailerForEachPipe().doit(video=video, segs=segs, guide_size=64, guide_size_for=True, max_size=128,
                                           seed=1, steps=2, cfg=7.0, sampler_name="euler", scheduler="normal",
                                           denoise=0.5, feather=5, basic_pipe=PIPE, refiner_ratio=0.2)


def test_nothing_to_detail_gives_the_video_itself_back():
    video = FakeVideo(torch.rand(4, 32, 48, 3))
    empty = ((32, 48), [])
    out, segs, pipe, cnet_images = call(video, empty)
    assert out is video and segs is empty and pipe is PIPE and len(cnet_images) == 1


def test_what_is_not_a_video_is_refused_naming_the_image_node():
    segs = ((32, 48), [SEG(None, torch.ones(4, 16, 16), 1.0, (8, 8, 24, 24), (8, 8, 24, 24), "face")])
    with pytest.raises(ValueError, match=r"video must be a VIDEO \(from Load Video or Create Video\), got Tensor; for an "
                                         r"IMAGE batch use 'Detailer \(SEGS, pipe\) for AnimateDiff'"):
        call(torch.rand(4, 32, 48, 3), segs)


@pytest.mark.parametrize("node_class", [SAM3TrackToSEGS, VideoDetailerForEachPipe, TrackSEGSForVideo, MaskToSEGSForVideo])
def test_declared_with_our_id_a_description_and_a_short_tooltip_per_input(node_class):
    ids = [node_id for node_id, cls in NODE_CLASS_MAPPINGS.items() if cls is node_class]
    assert ids and all(node_id.startswith("AnimateDiffDetailer_") for node_id in ids)
    assert all(NODE_DISPLAY_NAME_MAPPINGS[node_id].endswith(DISPLAY_SUFFIX) for node_id in ids)
    if node_class is not MaskToSEGSForVideo:
        assert node_class.DESCRIPTION
    for group in node_class.INPUT_TYPES().values():
        for name, spec in group.items():
            tooltip = spec[1].get("tooltip", "")
            assert tooltip and len(tooltip) <= 200, f"{node_class.__name__}.{name}: tooltip of {len(tooltip)} characters"


def test_the_example_video_has_every_frame_and_a_sound_track(tmp_path):
    av = pytest.importorskip("av", reason="PyAV writes the example video (ComfyUI requires it)")
    import example_clip  # tools/

    frames = example_clip.make_example_clip()
    path = example_clip.write_video(frames, tmp_path / example_clip.VIDEO_FILE_NAME, fps=8)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video)]
        assert video.average_rate == 8 and audio.rate == 44100 and audio.channels == 2
    assert len(decoded) == len(frames) and decoded[0].shape == frames[0].shape
    assert max(abs(int(a.mean()) - int(b.mean())) for a, b in zip(decoded, frames)) <= 3, "H.264 is lossy, not wrong"
