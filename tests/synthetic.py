"""Generated image datasets whose classes survive crops, flips and small shifts, like real ones do.

Each of the 10 classes is a texture drawn over the whole image with a random phase, contrast,
brightness and noise: stripes (horizontal or vertical), checkerboards and rings, each at two
periods, then smooth and fine noise. A pad-and-crop moves the phase only and a mirror keeps the
texture, so the baseline's augmentations keep every class, and no pixel alone tells the classes
apart (a model has to learn the textures).
"""

from __future__ import annotations

import numpy as np

CLASSES = ("hstripes4", "hstripes8", "vstripes4", "vstripes8", "checks4", "checks8", "rings4", "rings8",
           "smooth", "grain")


def _texture(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(float)
    name = CLASSES[kind]
    period = 4.0 if name.endswith("4") else 8.0
    phase = rng.uniform(0, 2 * np.pi)
    if name.startswith("hstripes"):
        return np.sin(2 * np.pi * y / period + phase)
    if name.startswith("vstripes"):
        return np.sin(2 * np.pi * x / period + phase)
    if name.startswith("checks"):
        return np.sin(2 * np.pi * x / period + phase) * np.sin(2 * np.pi * y / period + rng.uniform(0, 2 * np.pi))
    if name.startswith("rings"):
        cy, cx = size / 2 + rng.uniform(-3, 3, 2)
        return np.sin(2 * np.pi * np.hypot(y - cy, x - cx) / period + phase)
    coarse = rng.normal(0, 1, (size // 7 + 2, size // 7 + 2)) if name == "smooth" else rng.normal(0, 1, (size, size))
    reps = -(-size // (coarse.shape[0] - 1)) if name == "smooth" else 1
    field = np.kron(coarse, np.ones((reps, reps)))[:size, :size] if name == "smooth" else coarse
    return np.clip(field, -1.5, 1.5) / 1.5


def make_textures(size: int = 28, channels: int = 1, per_class_train: int = 100, per_class_test: int = 50,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a prepared ``<data-root>/<name>.npz``: uint8 N x size x size x channels, 10 classes."""
    rng = np.random.default_rng(seed)

    def draw(per_class: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.tile(np.arange(len(CLASSES)), per_class)  # classes interleaved, as in a shuffled dataset
        images = np.empty((len(y), size, size, channels), dtype=np.uint8)
        for i, label in enumerate(y):
            pattern = _texture(int(label), size, rng)[..., None]
            tint = rng.uniform(0.4, 1.0, channels)  # a random colour: colour says nothing about the class
            pixels = 128 + rng.uniform(-30, 30) + rng.uniform(50, 110) * pattern * tint
            images[i] = np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255).astype(np.uint8)
        return images, y

    x_train, y_train = draw(per_class_train)
    x_test, y_test = draw(per_class_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "classes": np.array(CLASSES)}
