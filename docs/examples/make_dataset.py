"""Write a dataset as a prepared ``<data-root>/<name>.npz``: the only step a new dataset needs.

Here the images are generated (10 classes of 8x8 grey "blobs": a fixed random pattern per class
plus noise), so the example runs anywhere; with your own data, fill the same five arrays from your
files. Usage: ``python docs/examples/make_dataset.py DATA_ROOT`` writes ``DATA_ROOT/blobs.npz``.
"""

import sys
from pathlib import Path

import numpy as np


def make_blobs(per_class_train: int = 60, per_class_test: int = 30, classes: int = 10, size: int = 8,
               seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 255, (classes, size, size, 1))

    def draw(per_class: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(classes), per_class)
        noise = rng.normal(0, 40, (len(y), size, size, 1))
        x = np.clip(patterns[y] + noise, 0, 255).astype(np.uint8)  # uint8, N x H x W x C
        order = rng.permutation(len(y))
        return x[order], y[order]

    x_train, y_train = draw(per_class_train)
    x_test, y_test = draw(per_class_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "classes": np.array([f"blob{i}" for i in range(classes)])}


if __name__ == "__main__":
    root = Path(sys.argv[1])
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "blobs.npz", **make_blobs())
    print(f"wrote {root / 'blobs.npz'}")
