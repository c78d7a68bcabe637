"""Protocol files: the standard splits as data, validation errors, the array cache."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from osrbench import DataOptions, OsrbenchError
from osrbench.data import load_dataset
from osrbench.plugins import load_plugins
from osrbench.protocol_files import load_protocol_file

PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"
SHAPES = {"mnist": (6, 4), "svhn": (6, 4), "cifar10": (6, 4), "cifar+10": (4, 10), "cifar+50": (4, 50),
          "tinyimagenet": (20, 180)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_standard_protocols_have_five_splits_of_the_right_size(name):
    data = json.loads((PROTOCOLS / f"{name}.json").read_text())
    assert data["split_family"] == "arpl-vaze" and "ARPL" in data["source"]
    assert len(data["splits"]) == 5
    for split in data["splits"]:
        assert (len(split["known"]), len(split["unknown"])) == SHAPES[name]


def test_cifar10_split0_keeps_the_published_order():
    data = json.loads((PROTOCOLS / "cifar10.json").read_text())
    assert data["splits"][0]["known"] == [0, 6, 4, 9, 1, 7]
    assert data["splits"][0]["unknown"] == [2, 3, 5, 8]


def test_malformed_file_names_file_and_field(tmp_path):
    data = json.loads((PROTOCOLS / "digits.json").read_text())
    data["splits"][1]["known"] = "0,1,2"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(OsrbenchError, match=r"bad\.json: field 'splits\[1\]\.known'"):
        load_protocol_file(bad)
    del data["mean"]
    bad.write_text(json.dumps(data))
    with pytest.raises(OsrbenchError, match="field 'mean' is missing"):
        load_protocol_file(bad)


def test_digits_split_relabels_known_classes_in_listed_order(tmp_path):
    spec = load_plugins().protocols.get("digits")
    split = spec.load(0, DataOptions(tmp_path))
    known = json.loads((PROTOCOLS / "digits.json").read_text())["splits"][0]["known"]
    assert split.class_names == [str(c) for c in known]
    assert split.train_images.dtype == torch.uint8 and split.train_images.shape[1:] == (1, 8, 8)
    assert set(split.train_labels.tolist()) == set(range(6))
    assert len(split.unknown_images) > 0 and split.fingerprint


def _write_fake_cifar(root: Path, value: int = 0) -> None:
    rng = np.random.default_rng(value)
    x = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    y = np.arange(40) % 10
    np.savez(root / "cifar10.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20],
             classes=np.array([f"c{i}" for i in range(10)]))


def test_a_prepared_array_file_is_used_as_is_and_fingerprinted(tmp_path):
    _write_fake_cifar(tmp_path)
    split = load_plugins().protocols.get("cifar10").load(0, DataOptions(tmp_path))
    assert split.class_names == ["c0", "c6", "c4", "c9", "c1", "c7"]
    # class 6 of the file is known label 1: its images are the file's images of class 6
    with np.load(tmp_path / "cifar10.npz") as f:
        expected = torch.from_numpy(f["x_train"][f["y_train"] == 6]).permute(0, 3, 1, 2)
    assert torch.equal(split.train_images[split.train_labels == 1], expected)
    other = tmp_path / "other"
    other.mkdir()
    _write_fake_cifar(other, value=1)
    assert load_dataset("cifar10", DataOptions(other)).fingerprint != split.fingerprint


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(OsrbenchError) as err:
        load_plugins().protocols.get("svhn").load(0, DataOptions(tmp_path))
    message = str(err.value)
    assert str(tmp_path / "svhn.npz") in message and "--download" in message


def test_unknown_split_index_is_rejected(tmp_path):
    with pytest.raises(OsrbenchError, match="splits 0..4"):
        load_plugins().protocols.get("digits").load(7, DataOptions(tmp_path))
