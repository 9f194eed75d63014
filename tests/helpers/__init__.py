"""Code the tests share: tiny models, tiny configs, dataset writers, the malformed corpus, paths.

Every function more than one test file uses lives here (pytest fixtures that wrap them live in the
``conftest.py`` of the narrowest folder whose tests use them). Import it as
``from tests.helpers.<module> import ...``; the scripts here run as ``python -m tests.helpers.<module>``
from the repository root.
"""
