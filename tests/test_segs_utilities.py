"""ControlNet per SEG (with a fake ControlNet object), filters, order and preview."""

from __future__ import annotations

import pytest
import torch
from fakes import FakeBackend
from test_enhance import CONDS

from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.segs import SEG
from animatediff_detailer.core.segs_ops import order_segs, parse_labels, preview_crops, split_by_label, split_by_size
from animatediff_detailer.core.crop_windows import CropWindows
from animatediff_detailer.nodes.adapter.controlnet import SegControlNet, attach_control_net


class FakeControlNet:
    def __init__(self):
        self.hint = None
        self.previous = None
        self.args = None

    def copy(self):
        return FakeControlNet()

    def set_cond_hint(self, hint, strength, percent, vae=None):
        self.hint, self.args = hint, (strength, percent)
        return self

    def set_previous_controlnet(self, previous):
        self.previous = previous
        return self


def seg(region=(10, 10, 30, 40), bbox=None, label="face", confidence=0.9, frames=1):
    x1, y1, x2, y2 = region
    return SEG(None, torch.ones(frames, y2 - y1, x2 - x1), confidence, region, bbox or region, label)


def test_per_frame_hints_are_cut_from_the_control_clip():
    control = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 48, 64, 3).clone()
    segs = attach_control_net(((48, 64), [seg()]), FakeControlNet(), 0.8, 0.1, 0.9, control_image=control)
    wrapper = segs[1][0].control_net_wrapper
    crops = torch.rand(4, 30, 20, 3)
    positive, negative, hints = wrapper.apply([[torch.zeros(1), {}]], [[torch.zeros(1), {}]], crops, None, use_acn=True)
    assert len(hints) == 1 and hints[0].shape == (4, 30, 20, 3)
    assert [float(hints[0][i].mean()) for i in range(4)] == [0.0, 1.0, 2.0, 3.0], "every frame its own hint"
    control_object = positive[0][1]["control"]
    assert control_object.hint.shape == (4, 3, 30, 20)
    assert control_object.args == (0.8, (0.1, 0.9))
    assert negative[0][1]["control"] is control_object and positive[0][1]["control_apply_to_uncond"] is False


def test_crop_is_the_hint_without_a_control_image_and_windows_are_followed():
    wrapper = SegControlNet(FakeControlNet(), 1.0, 0.0, 1.0, (0, 0, 20, 20), (40, 40),
                            control_image=torch.rand(3, 40, 40, 3))
    crops = torch.rand(3, 10, 10, 3)
    windows = CropWindows(torch.tensor([[0, 0], [5, 5], [10, 10]]), 10, 10)
    _, _, (hint,) = wrapper.apply([], [], crops, None, windows=windows)
    assert torch.equal(hint[2], wrapper.control_image[2, 10:20, 10:20])
    plain = SegControlNet(FakeControlNet(), 1.0, 0.0, 1.0, (0, 0, 10, 10), (40, 40))
    _, _, (crop_hint,) = plain.apply([], [], crops, None)
    assert torch.equal(crop_hint, crops)


def test_wrappers_chain_and_the_detailer_reports_their_hints():
    first = attach_control_net(((48, 64), [seg(frames=3)]), FakeControlNet(), 1.0, 0.0, 1.0)
    both = attach_control_net(first, FakeControlNet(), 0.5, 0.0, 1.0, control_image=torch.rand(1, 48, 64, 3))
    frames = torch.rand(3, 48, 64, 3)
    settings = DetailSettings(guide_size=32, guide_for_bbox=True, max_size=128, seed=1)
    backend = FakeBackend()
    (_, (refined,)), hints = detail_segs(frames, both, settings, CONDS, backend)
    assert len(hints) == 2 and all(h.shape == (3, 30, 20, 3) for h in hints)
    control = backend.sample_calls[0]["conditionings"].positive[0][1]["control"]
    assert control.args[0] == 0.5 and control.previous.args[0] == 1.0
    assert refined.control_net_wrapper is None


def test_bad_control_inputs_are_named():
    with pytest.raises(ValueError, match="control_net must be a CONTROL_NET"):
        attach_control_net(((48, 64), [seg()]), object(), 1.0, 0.0, 1.0)
    wrapper = SegControlNet(FakeControlNet(), 1.0, 0.0, 1.0, (0, 0, 10, 10), (40, 40), control_image=torch.rand(2, 40, 40, 3))
    with pytest.raises(ValueError, match="control_image has 2 frames but the clip has 3"):
        wrapper.apply([], [], torch.rand(3, 10, 10, 3), None)


def test_filters_and_order():
    segs = ((100, 100), [seg((0, 0, 10, 10), label="face", confidence=0.9), seg((0, 0, 40, 20), label="hand", confidence=0.3),
                         seg((50, 50, 90, 90), label="face", confidence=0.5)])
    faces, others = split_by_label(segs, parse_labels(" face , ,"))
    assert [s.label for s in faces[1]] == ["face", "face"] and [s.label for s in others[1]] == ["hand"]
    big, small = split_by_size(segs, 15, 100, 0.4)
    assert [s.crop_region for s in big[1]] == [(50, 50, 90, 90)] and len(small[1]) == 2
    by_area = order_segs(segs, "area", True, 2)
    assert [s.crop_region for s in by_area[1]] == [(50, 50, 90, 90), (0, 0, 40, 20)]
    assert [s.confidence for s in order_segs(segs, "confidence", False, 0)[1]] == [0.3, 0.5, 0.9]
    with pytest.raises(ValueError, match="order_by 'size' is not one of area, confidence"):
        order_segs(segs, "size", True, 0)


def test_preview_shows_every_segs_frames_letterboxed():
    frames = torch.rand(3, 48, 64, 3)
    segs = ((48, 64), [seg((0, 0, 20, 40)), seg((30, 10, 60, 20))])
    preview = preview_crops(segs, frames, 32)
    assert preview.shape == (6, 32, 32, 3)
    assert float(preview[0, :, :4].abs().sum()) == 0.0, "letterbox bars at the sides of a tall crop"
    assert preview_crops(((48, 64), []), frames, 16).shape == (1, 16, 16, 3)


def test_a_chain_follows_tracked_windows_only_if_every_wrapper_can():
    class ForeignWrapper:  # another pack's wrapper: cuts its hint at the crop region
        def apply(self, positive, negative, image, mask=None, use_acn=False):
            return positive, negative, [image]

    ours_alone = SegControlNet(FakeControlNet(), 1.0, 0.0, 1.0, (0, 0, 10, 10), (40, 40))
    over_ours = SegControlNet(FakeControlNet(), 1.0, 0.0, 1.0, (0, 0, 10, 10), (40, 40), previous=ours_alone)
    over_foreign = SegControlNet(FakeControlNet(), 1.0, 0.0, 1.0, (0, 0, 10, 10), (40, 40), previous=ForeignWrapper())
    assert ours_alone.accepts_windows and over_ours.accepts_windows
    assert not over_foreign.accepts_windows
