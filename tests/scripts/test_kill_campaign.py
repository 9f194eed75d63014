"""``scripts/kill_campaign.py`` as a user runs it: one SIGKILL during a checkpoint write of a tiny
one-process run, a resume, and a bit-for-bit comparison with the uninterrupted run."""

import subprocess
import sys

import pytest

from tests.helpers.paths import REPO


@pytest.mark.slow
def test_kill_campaign_reports_bit_identical_resumes(tmp_path):
    cmd = [sys.executable, "scripts/kill_campaign.py", "--kills", "2", "--procs", "1", "--max-iter", "4"]
    proc = subprocess.run(
        [*cmd, "--workdir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert sum("| checkpoint write |" in line and "killed at" in line for line in lines) == 1
    summary = next(line for line in lines if line.startswith("  1 process(es):"))
    assert "(1 during checkpoint writes), 2/2 resumed runs bit-identical" in summary
    assert summary.endswith("0 orphaned workers, 0 failed resumes")
