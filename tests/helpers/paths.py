"""The folders the tests read: the repository root, its configs, and the test fixtures."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
FIXTURES = REPO / "tests" / "fixtures"
REFERENCE = FIXTURES / "reference"
