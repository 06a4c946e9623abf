"""Per-chip augmentation, on uint8 HWC arrays in the workers.

Resizing happens once when a chip is loaded (or cached, see `chips.load_chip`); normalisation waits
for the batch on the device (`ChipClassifier.normalize`). What is left per sample is D4.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

# The 8 elements of D4 in albumentations' names, each as one or two OpenCV calls. cv2 writes a
# contiguous result; numpy's rot90/flip views would need a strided copy that costs ~10x more.
_D4_OPS = {
    "e": lambda x: x,
    "r90": lambda x: cv2.rotate(x, cv2.ROTATE_90_COUNTERCLOCKWISE),
    "r180": lambda x: cv2.rotate(x, cv2.ROTATE_180),
    "r270": lambda x: cv2.rotate(x, cv2.ROTATE_90_CLOCKWISE),
    "v": lambda x: cv2.flip(x, 0),
    "h": lambda x: cv2.flip(x, 1),
    "t": cv2.transpose,
    "hvt": lambda x: cv2.transpose(cv2.rotate(x, cv2.ROTATE_180)),
}


class FastD4(A.D4):
    """albumentations' D4 (same random group element, same pixels) with OpenCV kernels for images.

    Chips have no 'up': each of the 8 flips/rotations is an equally valid view of the ground.
    """

    def apply(self, img: np.ndarray, group_element: str, **params: Any) -> np.ndarray:
        if img.ndim == 3 and img.shape[2] > 4:  # OpenCV's kernels take up to 4 channels; albumentations' any
            return super().apply(img, group_element, **params)
        return _D4_OPS[group_element](img)


def train_transform() -> A.Compose:
    return A.Compose([FastD4(p=1.0)])
