"""Fixtures of the tools tests: a datasets root holding the tiny shapes set of ``train_net_runs``."""

import pytest

from maskformer.data.datasets.shapes import write_shapes_dataset
from tests.helpers.train_net_runs import TINY_SHAPES


@pytest.fixture(scope="module")
def datasets_root(tmp_path_factory) -> str:
    """A datasets root whose ``shapes`` folder holds the tiny set (so nothing bigger is generated)."""
    root = tmp_path_factory.mktemp("datasets")
    write_shapes_dataset(str(root / "shapes"), TINY_SHAPES)
    return str(root)
