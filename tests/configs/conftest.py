"""Shared fixtures of the config tests: the tiny copy of every built-in dataset the recipes run on."""

from __future__ import annotations

import pytest

from tests.helpers.recipe_root import recipe_catalog, use_catalog, write_recipe_root


@pytest.fixture(scope="session")
def recipe_datasets(tmp_path_factory) -> tuple[dict, dict]:
    """Every built-in dataset in its real layout (written once), registered in a catalog of its own."""
    return recipe_catalog(write_recipe_root(str(tmp_path_factory.mktemp("recipe_datasets"))))


@pytest.fixture
def builtin_datasets(recipe_datasets, monkeypatch) -> None:
    """The built-in dataset names point at the tiny datasets for the duration of the test."""
    use_catalog(monkeypatch, recipe_datasets)
