"""The standard protocols (MNIST, SVHN, CIFAR10, CIFAR+10, CIFAR+50, TinyImageNet) and ``digits``.

Each is a JSON file in the repository's ``protocols/`` folder, installed as the package data
``osrbench_protocols.files``.
"""

from importlib.resources import as_file, files

import osrbench
from osrbench.protocol_files import load_protocol_file


@osrbench.hookimpl
def osrbench_protocols():
    specs = []
    for entry in sorted(files("osrbench_protocols.files").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            with as_file(entry) as path:
                specs.append(load_protocol_file(path))
    return specs
