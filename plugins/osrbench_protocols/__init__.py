"""The standard protocols (MNIST, SVHN, CIFAR10, CIFAR+10, CIFAR+50, TinyImageNet) and ``digits``.

Each is a JSON file in the repository's ``protocols/`` folder, installed as the package data
``osrbench_protocols.files``; the core reads and checks each file on its own.
"""

import importlib.resources
from pathlib import Path

import osrbench


@osrbench.hookimpl
def osrbench_protocol_files():
    # (not `from importlib.resources import files`: importing the subpackage osrbench_protocols.files
    # would rebind that name in this module)
    return [Path(str(importlib.resources.files("osrbench_protocols.files")))]
