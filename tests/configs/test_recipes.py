"""Every complete config of configs/ runs end to end: its own train loader (mapper and augmentations),
one training step with exactly the official loss keys, all finite, then the evaluation of
``--eval-only`` (``Trainer.test``) with its own evaluators, giving the tasks its dataset and
``TEST.*_ON`` flags ask for.

The 93 official files are 77 runnable configs and 16 ``Base-*`` fragments (run through the configs
built on them); the shapes configs and any other complete config of the tree run too. Each runs on a
tiny copy of its dataset in the real layout (``tests/helpers/recipe_root.py``), with the model
shrunk but of the same kind (``recipes.shrink``). ``python -m tests.helpers.recipe_table`` prints the
same runs as a table.
"""

from __future__ import annotations

import pytest

from tests.helpers.config_keys import flatten
from tests.helpers.recipes import SHRUNK_KEYS, problems, run_recipe, shrink
from tests.helpers.zoo_build import leaf_configs, load_cfg, rel

LEAVES = leaf_configs()
OFFICIAL_TREES = ("coco", "ade20k", "cityscapes", "mapillary-vistas", "maskformer")


def test_recipes_cover_the_77_official_runnable_configs():
    # 93 official files = 77 a user runs + 16 Base-* fragments (test_config_builds checks the split).
    assert len([p for p in LEAVES if rel(p).split("/")[0] in OFFICIAL_TREES]) == 77


@pytest.mark.parametrize("path", LEAVES, ids=rel)
def test_shrink_changes_only_sizes(path, tmp_path):
    original = load_cfg(path)
    before, after = flatten(original), flatten(shrink(original, str(tmp_path)))
    assert {k for k in before if before[k] != after[k]} <= SHRUNK_KEYS


@pytest.mark.slow
@pytest.mark.parametrize("path", LEAVES, ids=rel)
def test_recipe_trains_and_evaluates(path, tmp_path, builtin_datasets):
    cfg, run = run_recipe(path, str(tmp_path))
    assert not problems(cfg, run)
    assert run.losses and run.results
