"""Fixtures used by the tests of more than one folder (see tests/README.md)."""

import logging

import pytest

from tests.helpers.tiny_shapes import write_tiny_shapes


@pytest.fixture
def package_log(caplog):
    """``caplog`` at INFO that also sees the ``maskformer`` logger (which may not propagate to the root)."""
    package = logging.getLogger("maskformer")
    package.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    yield caplog
    package.removeHandler(caplog.handler)


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory) -> str:
    """A tiny shapes dataset, generated once and registered as ``tinyshapes_{train,val}_*``."""
    return write_tiny_shapes(str(tmp_path_factory.mktemp("datasets")))
