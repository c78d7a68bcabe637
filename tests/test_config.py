from dataclasses import dataclass

import pytest

from osrbench import OsrbenchError
from osrbench.config import build_config, parse_overrides, split_overrides


@dataclass
class Cfg:
    epochs: int = 3
    lr: float = 0.1
    compile: bool = True
    name: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    arch: str | None = None


def test_values_are_converted_by_field_type():
    cfg = build_config(Cfg, {"epochs": "5", "lr": "1e-3", "compile": "false", "sizes": "3,4", "arch": "a.json"}, "m")
    assert (cfg.epochs, cfg.lr, cfg.compile, cfg.sizes, cfg.arch) == (5, 1e-3, False, (3, 4), "a.json")


def test_bad_key_names_the_valid_keys():
    with pytest.raises(OsrbenchError, match="no option 'epoch'.*valid keys: arch, compile, epochs, lr, name, sizes"):
        build_config(Cfg, {"epoch": "5"}, "method 'm'")


def test_bad_value_says_what_was_expected():
    with pytest.raises(OsrbenchError, match="expected an int"):
        build_config(Cfg, {"epochs": "many"}, "m")


def test_overrides_are_routed_to_their_owner():
    grouped = split_overrides(parse_overrides(["lr=0.1", "mixup.alpha=0.4"]), {"mixup", "osr"})
    assert grouped == {"": {"lr": "0.1"}, "mixup": {"alpha": "0.4"}}
    with pytest.raises(OsrbenchError, match="'cutmix' is not an augmentation, postprocessor or scorer of this run"):
        split_overrides({"cutmix.alpha": "1"}, {"mixup"})
    with pytest.raises(OsrbenchError, match="key=value"):
        parse_overrides(["lr"])
