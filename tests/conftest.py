"""Imported before the test modules: ``import osrbench`` sets ``OMP_WAIT_POLICY`` before any test imports torch,
so that tests on a CPU shared with other jobs are not slowed down by spinning OpenMP threads."""

import osrbench  # noqa: F401
