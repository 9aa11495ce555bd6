"""Connected regions of binary masks (no OpenCV): union-find over row runs."""

from __future__ import annotations

import numpy as np
import torch


def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True in a 2-D boolean array: (row, start, end) arrays, end-exclusive."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows, starts, ends


def _label_2d(mask: np.ndarray) -> np.ndarray:
    """8-connected labels of one 2-D mask: union-find over row runs (few runs, not many pixels)."""
    rows, starts, ends = _row_runs(mask)
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    for row in range(1, mask.shape[0]):
        above = range(row_first[row - 1], row_first[row])
        here = range(row_first[row], row_first[row + 1])
        j = above.start
        for i in here:
            # runs above that touch run i, diagonals included: start <= end_i and end >= start_i
            while j < above.stop and ends[j] < starts[i]:
                j += 1
            k = j
            while k < above.stop and starts[k] <= ends[i]:
                a, b = root(i), root(k)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                k += 1
    labels = np.zeros(mask.shape, dtype=np.int64)
    for i in range(len(rows)):
        labels[rows[i], starts[i] : ends[i]] = root(i) + 1
    return labels


def label_components(masks: torch.Tensor) -> torch.Tensor:
    """Label the 8-connected regions of boolean masks ``[N, H, W]``, each frame on its own.

    Returns int64 labels of the same shape: 0 for background, and one positive label
    per region (labels are not consecutive; see :func:`component_labels`).
    """
    array = masks.bool().cpu().numpy()
    labels = np.zeros(array.shape, dtype=np.int64)
    offset = 0
    for frame in range(array.shape[0]):
        frame_labels = _label_2d(array[frame])
        labels[frame] = np.where(frame_labels > 0, frame_labels + offset, 0)
        offset += array.shape[1] * array.shape[2]
    return torch.from_numpy(labels)


def component_labels(labels: torch.Tensor) -> list[int]:
    """The distinct region labels present, in order of first appearance (row-major)."""
    flat = labels.flatten()
    values = flat[flat > 0]
    if values.numel() == 0:
        return []
    unique, inverse = torch.unique(values, return_inverse=True)
    first = torch.full((unique.numel(),), values.numel(), dtype=torch.int64)
    first.scatter_reduce_(0, inverse, torch.arange(values.numel()), reduce="amin")
    return unique[first.argsort()].tolist()


def fill_holes(masks: torch.Tensor) -> torch.Tensor:
    """Boolean masks ``[N, H, W]`` with every enclosed hole filled.

    A background pixel is a hole when its 4-connected background region does not reach
    the border (8-connected labelling of the background is a close enough stand-in: thin
    diagonal gaps count as closed, as they do for OpenCV's external contours).
    """
    foreground = masks.bool()
    background = label_components(~foreground)
    border = torch.zeros_like(foreground)
    border[:, 0, :] = border[:, -1, :] = True
    border[:, :, 0] = border[:, :, -1] = True
    outside_labels = torch.unique(background[border & ~foreground])
    outside = torch.isin(background, outside_labels) & (background > 0)
    return ~outside
