"""Plugin modules made in a test: each hook returns a fixed list of specs."""

import sys
import types


def plugin_module(name: str, **hooks) -> types.ModuleType:
    """A module ``name`` (importable, for entry points) whose hook ``h`` returns ``hooks[h]``."""
    import osrbench

    module = types.ModuleType(name)
    for hook, value in hooks.items():
        setattr(module, hook, osrbench.hookimpl(lambda value=value: value))
    sys.modules[name] = module
    return module
