"""The corruption scorer on a tiny batch with two corruption types; its cache, prepared arrays and errors."""

import json
import sys

import numpy as np
import pytest
import torch
from osrbench_scorers.corruption import CorruptionConfig, score_corruption
from osrbench_scorers.corruption_sets import PreparedSets, corrupt_chunk
from scorers_toys import BrightnessModel, context, is_png

from osrbench import OsrbenchError, Split
from osrbench.batches import predict_all

TWO = ["gaussian_noise", "brightness"]


def colour_split(n: int = 12, known_classes=None) -> Split:
    """32x32 RGB images: smooth ramps whose brightness sets the class (BrightnessModel gets them right)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    base = 40 + 70 * labels.float() + torch.randint(0, 20, (n,), generator=g).float()
    ramp = torch.linspace(-15, 15, 32).view(1, 1, 1, 32)
    images = (base.view(-1, 1, 1, 1) + ramp).expand(n, 3, 32, 32).round().to(torch.uint8).contiguous()
    extras = {"dataset": "toy", "known_classes": known_classes} if known_classes else {}
    return Split(protocol="toy", index=0, train_images=images, train_labels=labels, test_images=images,
                 test_labels=labels, unknown_images=images[:0], class_names=["a", "b", "c"], mean=(0.5,) * 3,
                 std=(0.25,) * 3, fingerprint="toy", split_family="toy", hflip=True, extras=extras)


def test_two_corruptions_on_a_tiny_batch(tmp_path):
    pytest.importorskip("imagecorruptions")
    split, model, ctx = colour_split(), BrightnessModel(3), context(tmp_path)
    config = CorruptionConfig(corruptions=TWO, severities=[1, 5], workers=1)
    out = score_corruption(model, split, config, ctx)
    assert out["clean_accuracy"] == 1.0
    assert out["implementation"].startswith("imagecorruptions-imaug")
    folder = tmp_path / "data" / "corruptions"
    sets = {p.name: np.load(p) for p in folder.rglob("*.npy")}
    assert sorted(sets) == ["brightness-1.npy", "brightness-5.npy", "gaussian_noise-1.npy", "gaussian_noise-5.npy"]
    clean = split.test_images.numpy()
    for name, array in sets.items():
        assert array.shape == clean.shape and array.dtype == np.uint8 and not np.array_equal(array, clean)
        pred = predict_all(model, torch.from_numpy(array), ctx).labels
        c, s = name[:-4].rsplit("-", 1)
        assert out["accuracy"][c][s] == pytest.approx(float((pred == split.test_labels).float().mean()))
    assert sets["brightness-5.npy"].mean() > sets["brightness-1.npy"].mean() > clean.mean()
    assert np.abs(sets["gaussian_noise-5.npy"].astype(int) - clean).mean() > np.abs(
        sets["gaussian_noise-1.npy"].astype(int) - clean).mean()
    for c in TWO:
        for s in ("1", "5"):
            assert out["drop"][c][s] == pytest.approx(1.0 - out["accuracy"][c][s])
        assert out["mean_drop_per_corruption"][c] == pytest.approx(np.mean(list(out["drop"][c].values())))
    assert out["mean_drop"] == pytest.approx(np.mean(list(out["mean_drop_per_corruption"].values())))
    assert out["mean_drop_per_severity"]["5"] == pytest.approx(np.mean([out["drop"][c]["5"] for c in TWO]))
    assert is_png(ctx.work_dir / "corruption-drop.png")
    json.dumps(out)

    # A second run reads the cache: nothing generated, the same figures.
    again = score_corruption(model, split, config, ctx)
    assert again["generation_seconds"] == 0.0 and again["accuracy"] == out["accuracy"]


def test_cache_is_used_without_the_package(tmp_path, monkeypatch):
    pytest.importorskip("imagecorruptions")
    split, model, ctx = colour_split(), BrightnessModel(3), context(tmp_path)
    config = CorruptionConfig(corruptions=["contrast"], severities=[2], workers=1)
    first = score_corruption(model, split, config, ctx)
    monkeypatch.setitem(sys.modules, "imagecorruptions", None)
    second = score_corruption(model, split, config, ctx)
    assert second["accuracy"] == first["accuracy"] and second["implementation"] == first["implementation"]
    with pytest.raises(OsrbenchError, match="pip install imagecorruptions-imaug"):
        score_corruption(model, split, CorruptionConfig(corruptions=["fog"], severities=[2], workers=1), ctx)


def test_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imagecorruptions", None)
    with pytest.raises(OsrbenchError, match="needs the imagecorruptions-imaug package.*pip install"):
        score_corruption(BrightnessModel(3), colour_split(), CorruptionConfig(corruptions=TWO, severities=[1]),
                         context(tmp_path))


@pytest.mark.slow
def test_worker_processes_give_the_same_sets(tmp_path):
    pytest.importorskip("imagecorruptions")
    split = colour_split(n=150)  # two chunks
    for workers in (1, 2):
        ctx = context(tmp_path / f"w{workers}")
        score_corruption(BrightnessModel(3), split, CorruptionConfig(corruptions=["shot_noise"], severities=[3],
                                                                     workers=workers, plots=False), ctx)
    a, b = (np.load(next((tmp_path / f"w{w}").rglob("shot_noise-3.npy"))) for w in (1, 2))
    assert np.array_equal(a, b)


def test_small_grey_images_are_enlarged_and_shrunk_back():
    pytest.importorskip("imagecorruptions")
    grey = np.full((2, 8, 8, 1), 100, np.uint8)
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    out = corrupt_chunk(grey, "brightness", 3, seed=0)
    assert np.random.rand() == expected  # numpy's global generator is left as it was
    assert out.shape == grey.shape and out.dtype == np.uint8
    assert (out > 100).all() and out.std() < 1.0  # brighter, still flat


def prepared_folder(tmp_path, labels):
    """A CIFAR-10-C style folder whose pixel value encodes (severity, test index)."""
    folder = tmp_path / "prepared"
    folder.mkdir()
    n = len(labels)
    np.save(folder / "labels.npy", np.tile(labels, 5))
    values = np.array([10 * s + i for s in range(1, 6) for i in range(n)], np.uint8)
    np.save(folder / "fog.npy", np.broadcast_to(values[:, None, None, None], (5 * n, 32, 32, 3)).copy())
    return folder


def test_prepared_arrays_select_the_known_test_samples(tmp_path):
    dataset_labels = np.array([3, 0, 1, 3, 2, 1])
    split = colour_split(n=4, known_classes=[3, 1])
    split.test_labels = torch.tensor([0, 1, 0, 1])  # dataset indices 0, 2, 3, 5 relabelled 3 -> 0, 1 -> 1
    folder = prepared_folder(tmp_path, dataset_labels)
    arrays = PreparedSets(folder, split, [("fog", 2), ("fog", 5)])
    assert arrays[("fog", 2)][:, 0, 0, 0].tolist() == [20, 22, 23, 25]
    assert arrays[("fog", 5)][:, 0, 0, 0].tolist() == [50, 52, 53, 55]
    out = score_corruption(BrightnessModel(3), split, CorruptionConfig(corruptions=["fog"], severities=[2],
                                                                       prepared=str(folder)), context(tmp_path))
    assert out["implementation"].startswith("prepared arrays")
    with pytest.raises(OsrbenchError, match="has no snow.npy"):
        PreparedSets(folder, split, [("snow", 1)])
    split.test_labels = torch.tensor([1, 1, 0, 1])
    with pytest.raises(OsrbenchError, match="do not match the known test set"):
        PreparedSets(folder, split, [("fog", 2)])


@pytest.mark.parametrize("kwargs, message", [
    ({"corruptions": ["sepia"]}, "not one of the common corruptions"),
    ({"severities": [0]}, "choose among"),
    ({"corruptions": ["fog", "fog"]}, "listed twice"),
])
def test_bad_config_rejected(kwargs, message):
    with pytest.raises(OsrbenchError, match=message):
        CorruptionConfig(**kwargs).validate()
