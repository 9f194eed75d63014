"""Prints the recipe runs of ``test_recipes.py`` as a markdown table (config -> train step, loss
keys, evaluators run, result tasks, seconds), with the total time.

Usage, from the repository root:
``python -m tests.helpers.recipe_table [--out FILE] [CONFIG_SUBSTRING ...]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

import pytest

from tests.helpers.recipe_root import recipe_catalog, use_catalog, write_recipe_root
from tests.helpers.recipes import TABLE_HEADER, run_recipe, table_row
from tests.helpers.zoo_build import leaf_configs, rel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("only", nargs="*", help="run the configs whose path contains one of these")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the trainers' logs would bury the table
    paths = [p for p in leaf_configs() if not args.only or any(s in rel(p) for s in args.only)]
    start = time.perf_counter()
    rows = [TABLE_HEADER]
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        use_catalog(mp, recipe_catalog(write_recipe_root(os.path.join(tmp, "datasets"))))
        for i, path in enumerate(paths):
            rows.append(table_row(*run_recipe(path, os.path.join(tmp, f"run{i}"))))
            print(rows[-1], flush=True)
    total = time.perf_counter() - start
    summary = f"\n{len(paths)} configs in {total:.0f} s (datasets written once, then one run per config)."
    print(summary)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(rows) + "\n" + summary + "\n")


if __name__ == "__main__":
    main()
