"""Haze removal by the dark channel prior (He, Sun and Tang, CVPR 2009).

In haze-free outdoor images most patches have a pixel that is dark in some channel; haze lifts
that minimum. The lift gives the transmission t, and the scene is recovered as
J = (I - A) / max(t, t0) + A, with A the airlight (the colour of the haze itself).
"""

from __future__ import annotations

import cv2
import numpy as np

OMEGA = 0.95  # keep a little haze: fully removed, distant regions look unnatural
T0 = 0.1  # lower bound on the transmission, against noise blow-up in dense haze


def dark_channel(image: np.ndarray, patch: int) -> np.ndarray:
    """Minimum over channels, then over a patch x patch window."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(image.min(axis=2), kernel)


def dehaze(image: np.ndarray) -> np.ndarray:
    """The dehazed RGB uint8 chip; the patch scales with the chip (15 px at 256 px)."""
    patch = max(3, round(image.shape[0] * 15 / 256) | 1)
    hazy = image.astype(np.float32) / 255.0
    dark = dark_channel(hazy, patch)
    brightest = np.argsort(dark.ravel())[-max(1, dark.size // 1000) :]  # top 0.1% of the dark channel
    airlight = hazy.reshape(-1, 3)[brightest].mean(axis=0).clip(0.05, 1.0)
    transmission = 1.0 - OMEGA * dark_channel(hazy / airlight, patch)
    transmission = cv2.blur(transmission, (patch, patch))  # soften the block edges of the min filter
    clear = (hazy - airlight) / np.maximum(transmission, T0)[..., None] + airlight
    return (clear.clip(0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
