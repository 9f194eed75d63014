"""Every input of the malformed corpus (tests/helpers/malformed_corpus.py) is refused with a clear error
naming the file / key and the fix, or handled correctly (with a warning where data is ignored), by
the validator, the training loader + mapper and evaluation: no silent outcome, no unclear crash."""

import os
import re

import pytest

from tests.helpers.malformed_corpus import CASES
from tests.helpers.run_malformed import STAGES, run_case, table


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_malformed_input_is_refused_clearly_or_handled(case, tmp_path):
    outcomes = run_case(case, str(tmp_path))
    assert set(outcomes) == set(case.expect)
    for stage, pattern in case.expect.items():
        assert re.search(pattern, outcomes[stage]), f"{case.name} [{stage}]: {outcomes[stage]}"


def test_corpus_covers_every_format_with_at_least_40_defects():
    defects = [case for case in CASES if not case.name.endswith("_clean")]
    assert len(defects) >= 40 and len({case.name for case in CASES}) == len(CASES)
    assert {case.kind for case in defects} == {"panoptic", "instance", "semantic", "config", "checkpoint"}
    for case in defects:  # a defect is never accepted without a warning in any stage
        for pattern in case.expect.values():
            assert pattern.startswith("refused") or "warned" in pattern or "100" in pattern, case.name


def test_escaping_png_name_writes_and_reads_nothing_outside(tmp_path):
    case = next(case for case in CASES if case.name == "pan_png_name_escapes_root")
    run_case(case, str(tmp_path))
    victim = tmp_path / "victim" / "000001.png"
    from maskformer.data.image_io import id2rgb
    from tests.helpers.malformed_corpus import pan_truth, png_bytes

    assert victim.read_bytes() == png_bytes(id2rgb(pan_truth()[1][0]))
    written = {p.name for p in (tmp_path / "out").rglob("*")} if (tmp_path / "out").exists() else set()
    assert "000001.png" not in written


def test_table_lists_every_case_and_stage(tmp_path):
    clean = [case for case in CASES if case.name in ("pan_clean", "ckpt_pth_zero_bytes")]
    text = table([(case, run_case(case, str(tmp_path / case.name))) for case in clean])
    lines = text.splitlines()
    assert lines[0] == "| # | case | format | defect | " + " | ".join(STAGES) + " |"
    assert "accepted: PQ 100.0" in lines[2] and "| n/a |" in lines[3] and len(lines) == 4
    assert os.path.basename(str(tmp_path)) not in lines[0]
