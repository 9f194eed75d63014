"""The whitelisting evaluator and the safe YAML loader: arithmetic lists work, code never runs."""

from __future__ import annotations

import pytest

from maskformer.config import ConfigError, get_cfg
from maskformer.config.safe_eval import UnsafeExpressionError, safe_eval
from maskformer.config.yaml_loader import load_yaml


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[int(x * 0.1 * 512) for x in range(5, 21)]", [int(x * 0.1 * 512) for x in range(5, 21)]),
        ("[int(x * 0.1 * 640) for x in range(5, 21)]", [int(x * 0.1 * 640) for x in range(5, 21)]),
        ("[x * 2 for x in range(3)]", [0, 2, 4]),
        ("[1, 2.5, -3]", [1, 2.5, -3]),
        ("(7 // 2, 7 / 2, 7 % 4, 2 - 5, +1)", [3, 3.5, 3, -3, 1]),
        ("int(2.9)", 2),
        ("[[x] for x in range(2)]", [[0], [1]]),
        ("[x for x in range(10, 0, -4)]", [10, 6, 2]),
    ],
)
def test_allowed_expressions(expression, expected):
    assert safe_eval(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('echo pwned')",
        "open('/etc/passwd').read()",
        "(1).__class__",
        "x",
        "[1, 2][0]",
        "lambda: 1",
        "[x for x in [1, 2]]",
        "[x for x in range(3) if x]",
        "'abc'",
        "True",
        "2 ** 10",
        "int(x=1)",
        "[[x for x in range(1000)] for y in range(1000)]",
        "1 +",
    ],
)
def test_refused_expressions(expression):
    with pytest.raises(UnsafeExpressionError):
        safe_eval(expression)


def test_comprehension_variable_does_not_leak():
    with pytest.raises(UnsafeExpressionError, match="name 'x'"):
        safe_eval("[[x for x in range(2)], x]")


def _write(tmp_path, text: str):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_python_object_tags_never_run(tmp_path):
    sentinel = tmp_path / "pwned"
    for text in [
        f'A: !!python/object/apply:os.system ["touch {sentinel}"]\n',
        f"A: !!python/object/apply:eval [\"__import__('os').system('touch {sentinel}')\"]\n",
        f"A: !!python/object/apply:eval [\"open('{sentinel}', 'w')\"]\n",
        "A: !!python/name:os.system\n",
        "A: !!python/object/new:str []\n",
    ]:
        path = _write(tmp_path, text)
        with pytest.raises(ConfigError, match=str(path)):
            load_yaml(str(path))
    assert not sentinel.exists()


def test_unsafe_file_through_merge_from_file(tmp_path):
    path = _write(tmp_path, 'INPUT:\n  MIN_SIZE_TRAIN: !!python/object/apply:eval ["[().__class__]"]\n')
    with pytest.raises(ConfigError, match=r"cfg\.yaml, line 2: refused to evaluate"):
        get_cfg().merge_from_file(str(path), allow_unsafe=True)


def test_unknown_tag_and_bad_eval_arguments(tmp_path):
    with pytest.raises(ConfigError, match="'!foo' is not supported"):
        load_yaml(str(_write(tmp_path, "A: !foo 1\n")))
    with pytest.raises(ConfigError, match="one expression string"):
        load_yaml(str(_write(tmp_path, 'A: !!python/object/apply:eval ["1", "2"]\n')))


def test_duplicate_keys(tmp_path, caplog):
    with pytest.raises(ConfigError, match=r"line 3: key 'B' is written twice .* \(1 and 2\)"):
        load_yaml(str(_write(tmp_path, "A:\n  B: 1\n  B: 2\n")))
    assert load_yaml(str(_write(tmp_path, "A:\n  B: [1]\n  B: [1]\n"))) == {"A": {"B": [1]}}
    assert "written twice with the same value" in caplog.text
    # The same key in two different mappings is not a duplicate.
    assert load_yaml(str(_write(tmp_path, "A:\n  B: 1\nC:\n  B: 2\n"))) == {"A": {"B": 1}, "C": {"B": 2}}


def test_empty_and_non_mapping_files(tmp_path):
    assert load_yaml(str(_write(tmp_path, ""))) == {}
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_yaml(str(_write(tmp_path, "- 1\n- 2\n")))
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(str(_write(tmp_path, "A: [1, 2\n")))
