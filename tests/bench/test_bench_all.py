"""``bench/bench_all.py --quick``: every benchmark runs on tiny models and the ratio table has its rows."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO


@pytest.mark.slow
def test_bench_all_quick_prints_every_row():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "bench/bench_all.py", "--quick", "--threads", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("| benchmark |") :]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    expected = [
        *(
            f"inference {s} {p}"
            for s in ("64x64", "64x96")
            for p in ("model()", "network", "pixel decoder", "post-processing")
        ),
        "train step 2x64x64, 3 masks",
        "train step 2x64x64, 3 masks, encoder checkpointing",
        "train step 2x64x64, 3 masks peak memory",
        "train step 2x64x64, 3 masks, encoder checkpointing peak memory",
        "deformable attention 128x128 forward",
        "deformable attention 128x128 forward+backward",
        "ours inference 64x64 model(), 1 thread(s)",
        "ours train step 2x64x64, 1 thread(s)",
        "ours inference 64x64 model(), bf16 autocast",
        "ours train step 2x64x64, bf16 autocast",
    ]
    assert list(rows) == expected
    ratio = re.compile(r"\| \d+\.\d\d \| (\d+\.\d\d|-) \|$")
    assert all(ratio.search(line) for line in rows.values()), table
    # bench_backbone.py prints its own lines before the table.
    assert "torchvision" in proc.stdout[: proc.stdout.index("| benchmark |")]
