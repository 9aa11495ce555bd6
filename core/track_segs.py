"""Subject tracks over a clip from per-frame detections, and one SEG per track.

A detector run on each frame gives boxes that jitter, swap between people and miss frames;
grouping the pixels of a mask batch (MaskToSEGS) knows nothing of identity when two subjects
cross. Here each frame's detections are linked to the tracks of the frames before it:

* prediction: a track moves on at constant velocity from its last detection (velocity from the
  detections' centres, smoothed), its size held;
* cost of linking a track to a detection: ``(1 - IoU) + centre distance / the larger box diagonal
  + 0.5 |ln(area ratio)|`` against the prediction; a detection of another label, or whose centre
  is farther than one diagonal (plus half a diagonal for every frame the track has missed) cannot
  be linked;
* per frame, the one-to-one assignment of the most pairs at the least total cost (Hungarian
  algorithm, :func:`assign`);
* a detection that covers the predicted centre of another track left without a detection, and is
  larger than its own track's prediction, is two subjects merged into one blob: it updates no
  track (both coast on their prediction) and starts none;
* a track missing for more than ``max_gap`` frames ends; the frames it missed in between are filled:
  box interpolated, mask held from the last detection, moved with the box and limited to it.

Short tracks are then dropped, the largest (or most confident) kept, and each becomes one SEG
as MaskToSEGS makes them (:func:`tracks_to_segs`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .components import component_labels, label_components
from .geometry import Rect, clamp_rect, expand_region
from .masks import morph_masks, nonzero_bbox
from .regions import fit_segs
from .segs import SEG, as_confidence
from .tracking import fill_missing

log = logging.getLogger(__name__)

ORDER_BY = ("size", "confidence")
DEFAULT_LABEL = "subject"  # base label of tracks from a mask (a detector gives its class name)
GATE_DISTANCE = 1.0  # centre distance, in larger box diagonals, allowed one frame after the last detection
GATE_GROWTH = 0.5  # ... plus this much for every further frame the track has missed
SIZE_WEIGHT = 0.5  # weight of |ln(area ratio)| in the link cost
MERGE_GROWTH = 1.25  # a detection this much larger than its track's prediction may be a merged blob
VELOCITY_KEEP = 0.5  # share of the previous velocity kept at each detection (the rest is the new step)

BoxArray = np.ndarray  # float64 [N, 4]: x1, y1, x2, y2 in frame pixels, end-exclusive


@dataclass(frozen=True)
class Detection:
    """One subject found in one frame.

    ``box`` is the detected box ``(x1, y1, x2, y2)`` in frame pixels, end-exclusive; ``mask`` float32
    ``[h, w]`` with values 0..1 covers ``rect`` (integer, inside the frame; larger than the box for
    a dilated mask, the box itself for a box detector).
    """

    box: tuple[float, float, float, float]
    rect: Rect
    mask: torch.Tensor
    confidence: float
    label: str


@dataclass(frozen=True)
class TrackOptions:
    """What the tracker keeps and how it names the tracks.

    ``max_gap``: most frames in a row a track may miss and go on (they are filled). ``min_length``:
    tracks covering fewer frames (first to last detection) are dropped. ``max_tracks``: keep at most
    this many (0 keeps all), ordered by ``order_by``: "size" (mean box area) or "confidence" (mean
    detection confidence), largest first. ``label``: base label of every track instead of the
    detector's class (or "subject" for a mask); track ``n`` of a base label is ``<label>_<n>``, ``n``
    counting from 1 in output order. ``crop_factor``: each SEG's crop region relative to its track's
    union bbox.
    """

    max_gap: int = 4
    min_length: int = 3
    max_tracks: int = 0
    order_by: str = "size"
    crop_factor: float = 3.0
    label: str = ""

    def __post_init__(self) -> None:
        if self.order_by not in ORDER_BY:
            raise ValueError(f"order_by '{self.order_by}' is not one of {', '.join(ORDER_BY)}: pick one of those")
        if self.max_gap < 0 or self.min_length < 1 or self.max_tracks < 0:
            raise ValueError(f"max_gap must be >= 0, min_track_length >= 1 and max_tracks >= 0, got {self.max_gap}, "
                             f"{self.min_length} and {self.max_tracks}")
        if self.crop_factor <= 0:
            raise ValueError(f"crop_factor must be positive, got {self.crop_factor}")


@dataclass(frozen=True)
class Track:
    """One subject over the clip of F frames.

    ``detections`` holds, per frame, the detection linked there or None. ``boxes`` float32 ``[F, 4]``
    are the per-frame boxes, detected or interpolated across a gap (zeros where absent); ``present``
    bool ``[F]`` marks the frames from the first to the last detection. ``size`` is the mean area of
    the detected boxes, ``confidence`` the mean confidence of the detections.
    """

    detections: tuple[Detection | None, ...]
    boxes: torch.Tensor
    present: torch.Tensor
    label: str
    confidence: float
    size: float

    @property
    def length(self) -> int:
        """Frames from the first detection to the last, both included."""
        return int(self.present.sum())

    @property
    def first_frame(self) -> int:
        return int(torch.nonzero(self.present).flatten()[0])

    @property
    def detected(self) -> torch.Tensor:
        """bool ``[F]``: the frames the subject was detected in (the others of ``present`` are filled)."""
        return torch.tensor([d is not None for d in self.detections], dtype=torch.bool)

    def union_bbox(self) -> Rect:
        """The integer box around every per-frame box (interpolated boxes lie inside it)."""
        boxes = self.boxes[self.present]
        x1, y1 = (math.floor(float(v)) for v in boxes[:, :2].amin(dim=0))
        x2, y2 = (math.ceil(float(v)) for v in boxes[:, 2:].amax(dim=0))
        return x1, y1, x2, y2


# --- detections from a mask batch or from a detector ------------------------------------------


def mask_detections(masks: torch.Tensor, threshold: float, dilation: int, drop_size: int,
                    label: str = DEFAULT_LABEL) -> list[list[Detection]]:
    """Detections per frame of a MASK batch ``[F, H, W]`` float 0..1: each 8-connected region of
    pixels above ``threshold`` in a frame is one detection (its box, its mask values, confidence the
    mean mask value over it). ``dilation`` grows (> 0) or shrinks (< 0) each region's mask by a
    square of that many pixels, as Impact's detectors do; regions whose box is not larger than
    ``drop_size`` on both sides are dropped."""
    frame_count, height, width = masks.shape
    labels = label_components(masks > threshold)
    margin = abs(int(dilation))
    found: list[list[Detection]] = []
    for frame in range(frame_count):
        detections = []
        for value in component_labels(labels[frame]):
            region = labels[frame] == value
            box = nonzero_bbox(region)
            x1, y1, x2, y2 = box
            if x2 - x1 <= drop_size or y2 - y1 <= drop_size:
                continue
            confidence = float(masks[frame][region].mean())
            rect = clamp_rect((x1 - margin, y1 - margin, x2 + margin, y2 + margin), width, height)
            rx1, ry1, rx2, ry2 = rect
            mask = torch.where(region, masks[frame], 0.0)[ry1:ry2, rx1:rx2]
            mask, rect = _trimmed(morph_masks(mask.unsqueeze(0), dilation)[0], rect)
            if mask is not None:
                detections.append(Detection((float(x1), float(y1), float(x2), float(y2)), rect, mask, confidence,
                                            label))
        found.append(detections)
    return found


def segs_detections(segs: Any, frame_height: int, frame_width: int, what: str) -> list[Detection]:
    """The detections of a detector's SEGS for one frame (rescaled to the frame when made for
    another size). A SEG whose mask is empty stands for its box."""
    detections = []
    for item in fit_segs(segs, frame_height, frame_width, what):
        if not item.usable:
            continue
        box = clamp_rect(item.bbox, frame_width, frame_height)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        mask, rect = _trimmed(item.mask.amax(dim=0), item.rect)
        if mask is None:
            bx1, by1, bx2, by2 = box
            mask, rect = torch.ones((by2 - by1, bx2 - bx1), dtype=torch.float32), box
        label = str(getattr(item.seg, "label", "") or "") or DEFAULT_LABEL
        detections.append(Detection(tuple(float(v) for v in box), rect, mask,
                                    as_confidence(getattr(item.seg, "confidence", None)), label))
    return detections


def detector_detections(detector: Any, frames: torch.Tensor, threshold: float, dilation: int, crop_factor: float,
                        drop_size: int, on_frame: Callable[[], None] | None = None) -> list[list[Detection]]:
    """Run an Impact-style detector (an object with ``detect(image, threshold, dilation,
    crop_factor, drop_size)`` returning the SEGS of one image ``[1, H, W, 3]``, as Impact Pack's
    BBOX_DETECTOR and SEGM_DETECTOR) on every frame of IMAGE ``frames`` ``[F, H, W, 3]``;
    ``on_frame`` is called after each frame (progress, cancel)."""
    detect = getattr(detector, "detect", None)
    if not callable(detect):
        raise ValueError(
            f"detector must be a BBOX_DETECTOR or SEGM_DETECTOR with a detect method, got {type(detector).__name__}: "
            f"connect the output of a detector provider (e.g. UltralyticsDetectorProvider's BBOX_DETECTOR; its "
            f"SEGM_DETECTOR output is only usable with a segmentation model)"
        )
    frame_count, height, width = frames.shape[:3]
    found = []
    for frame in range(frame_count):
        segs = detect(frames[frame : frame + 1].to(torch.float32), threshold, dilation, crop_factor, drop_size)
        found.append(segs_detections(segs, height, width, f"detector output for frame {frame}"))
        if on_frame is not None:
            on_frame()
    return found


def _trimmed(mask: torch.Tensor, rect: Rect) -> tuple[torch.Tensor | None, Rect]:
    """A mask ``[h, w]`` placed at ``rect`` cut to its nonzero pixels (None when it has none)."""
    inside = nonzero_bbox(mask > 0)
    if inside is None:
        return None, rect
    x1, y1, x2, y2 = inside
    return mask[y1:y2, x1:x2].contiguous(), (rect[0] + x1, rect[1] + y1, rect[0] + x2, rect[1] + y2)


# --- linking ----------------------------------------------------------------------------------


def _centres(boxes: BoxArray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _areas(boxes: BoxArray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(a: BoxArray, b: BoxArray) -> np.ndarray:
    """Intersection over union of every box of ``a`` ``[N, 4]`` with every box of ``b`` ``[M, 4]``: ``[N, M]``."""
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    union = _areas(a)[:, None] + _areas(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def link_costs(predicted: BoxArray, detected: BoxArray, missed: np.ndarray, compatible: np.ndarray) -> np.ndarray:
    """Cost ``[N, M]`` of linking tracks predicted at ``predicted`` (having missed ``missed`` frames
    since their last detection) to ``detected`` boxes; ``np.inf`` where they may not be linked
    (``compatible`` False: another label; or the centre beyond the gate)."""
    distance = np.linalg.norm(_centres(predicted)[:, None] - _centres(detected)[None, :], axis=-1)
    diagonal = np.maximum(np.hypot(predicted[:, 2] - predicted[:, 0], predicted[:, 3] - predicted[:, 1])[:, None],
                          np.hypot(detected[:, 2] - detected[:, 0], detected[:, 3] - detected[:, 1])[None, :])
    relative = distance / np.maximum(diagonal, 1e-6)
    growth = np.log(np.maximum(_areas(detected), 1e-6)[None, :] / np.maximum(_areas(predicted), 1e-6)[:, None])
    cost = (1.0 - box_iou(predicted, detected)) + relative + SIZE_WEIGHT * np.abs(growth)
    gate = GATE_DISTANCE + GATE_GROWTH * missed[:, None]
    return np.where(compatible & (relative <= gate), cost, np.inf)


def _hungarian(cost: np.ndarray) -> np.ndarray:
    """The column of each row in a minimum-cost assignment of a finite cost matrix ``[n, m]``, n <= m
    (shortest augmenting paths with row and column potentials, O(n^2 m))."""
    rows, columns = cost.shape
    row_potential = np.zeros(rows + 1)
    column_potential = np.zeros(columns + 1)
    owner = np.zeros(columns + 1, dtype=np.int64)  # 1-based row holding each column; column 0 is the path's start
    came_from = np.zeros(columns + 1, dtype=np.int64)
    for row in range(1, rows + 1):
        owner[0] = row
        column = 0
        slack = np.full(columns + 1, np.inf)
        visited = np.zeros(columns + 1, dtype=bool)
        while True:
            visited[column] = True
            current = owner[column]
            reduced = cost[current - 1] - row_potential[current] - column_potential[1:]
            free = ~visited[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            came_from[1:][better] = column
            candidates = np.where(free, slack[1:], np.inf)
            nearest = int(np.argmin(candidates)) + 1
            delta = candidates[nearest - 1]
            row_potential[owner[visited]] += delta
            column_potential[visited] -= delta
            slack[1:][free] -= delta
            column = nearest
            if owner[column] == 0:
                break
        while column:
            previous = came_from[column]
            owner[column] = owner[previous]
            column = previous
    assignment = np.full(rows, -1, dtype=np.int64)
    for column in range(1, columns + 1):
        if owner[column]:
            assignment[owner[column] - 1] = column - 1
    return assignment


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one ``(row, column)`` pairs of ``cost`` ``[N, M]`` (``np.inf`` = may not pair): as many
    pairs as possible, and among those the least total cost. Sorted by row."""
    finite = np.isfinite(cost)
    if not finite.any():
        return []
    # A forbidden pair costs more than any whole assignment of allowed ones, so it is only ever
    # chosen where nothing allowed is left, and dropped below.
    forbidden = (float(np.abs(cost[finite]).max()) + 1.0) * (min(cost.shape) + 1)
    padded = np.where(finite, cost, forbidden)
    transposed = padded.shape[0] > padded.shape[1]
    columns = _hungarian(padded.T if transposed else padded)
    pairs = [(column, row) if transposed else (row, column) for row, column in enumerate(columns.tolist())]
    return sorted((row, column) for row, column in pairs if finite[row, column])


class _Chain:
    """A track while frames are linked: its detections by frame and its motion (internal, mutable)."""

    def __init__(self, frame: int, detection: Detection) -> None:
        self.detections = {frame: detection}
        self.last_frame = frame
        self.velocity: np.ndarray | None = None  # centre motion in pixels per frame

    @property
    def last(self) -> Detection:
        return self.detections[self.last_frame]

    def predict(self, frame: int) -> np.ndarray:
        """The box expected at ``frame``: the last one moved on at the track's velocity."""
        box = np.asarray(self.last.box, dtype=np.float64)
        if self.velocity is None:
            return box
        return box + np.tile(self.velocity * (frame - self.last_frame), 2)

    def add(self, frame: int, detection: Detection) -> None:
        step = (_centres(np.asarray([detection.box])) - _centres(np.asarray([self.last.box])))[0]
        step = step / (frame - self.last_frame)
        self.velocity = step if self.velocity is None else VELOCITY_KEEP * self.velocity + (1 - VELOCITY_KEEP) * step
        self.detections[frame] = detection
        self.last_frame = frame


def _merged(pairs: list[tuple[int, int]], predicted: BoxArray, detected: BoxArray,
            compatible: np.ndarray) -> set[int]:
    """The detections of ``pairs`` that are two subjects merged into one blob: larger than their
    track's prediction and covering the predicted centre of another compatible track that got no
    detection."""
    matched = {row for row, _ in pairs}
    waiting = [row for row in range(len(predicted)) if row not in matched]
    centres = _centres(predicted)
    merged = set()
    for row, column in pairs:
        x1, y1, x2, y2 = detected[column]
        if _areas(detected[column : column + 1])[0] <= MERGE_GROWTH * _areas(predicted[row : row + 1])[0]:
            continue
        if any(compatible[other, column] and x1 <= centres[other, 0] <= x2 and y1 <= centres[other, 1] <= y2
               for other in waiting):
            merged.add(column)
    return merged


def link_detections(frames: Sequence[Sequence[Detection]], max_gap: int) -> list[_Chain]:
    """Link the detections of each frame to the tracks of the frames before (see the module doc)."""
    chains: list[_Chain] = []
    for frame, detections in enumerate(frames):
        live = [chain for chain in chains if frame - chain.last_frame <= max_gap + 1]
        taken: set[int] = set()
        if live and detections:
            predicted = np.stack([chain.predict(frame) for chain in live])
            detected = np.asarray([d.box for d in detections], dtype=np.float64)
            missed = np.asarray([frame - chain.last_frame - 1 for chain in live], dtype=np.float64)
            compatible = np.asarray([[chain.last.label == d.label for d in detections] for chain in live])
            pairs = assign(link_costs(predicted, detected, missed, compatible))
            merged = _merged(pairs, predicted, detected, compatible)
            for row, column in pairs:
                if column not in merged:
                    live[row].add(frame, detections[column])
            taken = {column for _, column in pairs}
        chains.extend(_Chain(frame, d) for index, d in enumerate(detections) if index not in taken)
    return chains


def _track(chain: _Chain, frame_count: int) -> Track:
    """A linked chain as a Track over ``frame_count`` frames: boxes interpolated across its gaps."""
    detections: list[Detection | None] = [None] * frame_count
    boxes = torch.zeros((frame_count, 4), dtype=torch.float32)
    for frame, detection in chain.detections.items():
        detections[frame] = detection
        boxes[frame] = torch.tensor(detection.box, dtype=torch.float32)
    detected = torch.tensor([d is not None for d in detections], dtype=torch.bool)
    known = torch.nonzero(detected).flatten()
    present = torch.zeros(frame_count, dtype=torch.bool)
    present[int(known[0]) : int(known[-1]) + 1] = True
    boxes = torch.where(present.unsqueeze(1), fill_missing(boxes, detected), 0.0)
    found = list(chain.detections.values())
    size = float(np.mean(_areas(np.asarray([d.box for d in found], dtype=np.float64))))
    return Track(tuple(detections), boxes, present, chain.last.label,
                 float(np.mean([d.confidence for d in found])), size)


def link_tracks(frames: Sequence[Sequence[Detection]], max_gap: int) -> list[Track]:
    """Every track of the detections of ``frames`` (one list per frame), in order of first frame."""
    return [_track(chain, len(frames)) for chain in link_detections(frames, max_gap)]


def select_tracks(tracks: Sequence[Track], options: TrackOptions) -> list[Track]:
    """Tracks of at least ``min_length`` frames, largest (or most confident) first, at most
    ``max_tracks`` of them, each labelled ``<label>_<n>``."""
    kept = [track for track in tracks if track.length >= options.min_length]
    measure = (lambda t: t.size) if options.order_by == "size" else (lambda t: t.confidence)
    kept.sort(key=lambda t: (-measure(t), t.first_frame, float(t.boxes[t.first_frame, 0])))
    if options.max_tracks > 0:
        kept = kept[: options.max_tracks]
    counts: dict[str, int] = {}
    labelled = []
    for track in kept:
        base = options.label.strip() or track.label
        counts[base] = counts.get(base, 0) + 1
        labelled.append(replace(track, label=f"{base}_{counts[base]}"))
    return labelled


# --- tracks to SEGS ----------------------------------------------------------------------------


def _overlap(rect: Rect, window: Rect) -> Rect | None:
    x1, y1 = max(rect[0], window[0]), max(rect[1], window[1])
    x2, y2 = min(rect[2], window[2]), min(rect[3], window[3])
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _cut(mask: torch.Tensor, rect: Rect, window: Rect) -> tuple[torch.Tensor | None, Rect]:
    """The part of a mask ``[h, w]`` placed at ``rect`` that lies inside ``window`` (None if none)."""
    inside = _overlap(rect, window)
    if inside is None:
        return None, rect
    x1, y1, x2, y2 = inside
    return mask[y1 - rect[1] : y2 - rect[1], x1 - rect[0] : x2 - rect[0]], inside


def _held(detection: Detection, box: torch.Tensor) -> tuple[torch.Tensor | None, Rect]:
    """A gap frame's mask: ``detection``'s mask moved with the box centre to ``box`` and limited to
    ``box`` (grown by as much as the detection's mask reached beyond its own box)."""
    bx1, by1, bx2, by2 = detection.box
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = round((x1 + x2 - bx1 - bx2) / 2), round((y1 + y2 - by1 - by2) / 2)
    rx1, ry1, rx2, ry2 = detection.rect
    margins = (max(0.0, bx1 - rx1), max(0.0, by1 - ry1), max(0.0, rx2 - bx2), max(0.0, ry2 - by2))
    limit = (math.floor(x1 - margins[0]), math.floor(y1 - margins[1]), math.ceil(x2 + margins[2]),
             math.ceil(y2 + margins[3]))
    return _cut(detection.mask, (rx1 + dx, ry1 + dy, rx2 + dx, ry2 + dy), limit)


def track_masks(track: Track, region: Rect) -> torch.Tensor:
    """The track's per-frame masks in ``region`` coordinates: float32 ``[F, h, w]``, zero where the
    subject is absent; detected frames carry the detection's mask, gap frames the held one."""
    rx1, ry1, rx2, ry2 = region
    out = torch.zeros((len(track.detections), ry2 - ry1, rx2 - rx1), dtype=torch.float32)
    last: Detection | None = None
    for frame in torch.nonzero(track.present).flatten().tolist():
        detection = track.detections[frame]
        if detection is not None:
            last = detection
            mask, rect = _cut(detection.mask, detection.rect, region)
        else:
            mask, rect = _held(last, track.boxes[frame])
            if mask is not None:
                mask, rect = _cut(mask, rect, region)
        if mask is not None:
            out[frame, rect[1] - ry1 : rect[3] - ry1, rect[0] - rx1 : rect[2] - rx1] = mask
    return out


def tracks_to_segs(tracks: Sequence[Track], frame_height: int, frame_width: int,
                   crop_factor: float) -> tuple[tuple[int, int], list]:
    """One SEG per track, in order: bbox the track's union bbox, crop_region that times
    ``crop_factor`` (shifted inside the frame), cropped_mask ``[F, h, w]`` per frame, confidence
    the mean over its detections, no cropped_image."""
    items = []
    for track in tracks:
        bbox = clamp_rect(track.union_bbox(), frame_width, frame_height)
        region = expand_region(bbox, crop_factor, frame_width, frame_height)
        items.append(SEG(None, track_masks(track, region), track.confidence, region, bbox, track.label, None))
    return (frame_height, frame_width), items


def track_segs(frames: Sequence[Sequence[Detection]], frame_height: int, frame_width: int,
               options: TrackOptions) -> tuple[tuple[int, int], list]:
    """SEGS with one SEG per subject track of the per-frame ``frames`` detections."""
    tracks = link_tracks(frames, options.max_gap)
    kept = select_tracks(tracks, options)
    log.info("%d detections in %d frames linked into %d tracks; %d kept (%s)", sum(len(f) for f in frames),
             len(frames), len(tracks), len(kept), ", ".join(f"{t.label}: frames {t.first_frame}-"
                                                         f"{t.first_frame + t.length - 1}" for t in kept) or "none")
    return tracks_to_segs(kept, frame_height, frame_width, options.crop_factor)
