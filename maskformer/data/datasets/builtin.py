"""The built-in splits: official names, layouts under the datasets root, metadata from metadata/*.json.

Nothing is registered on import; the tools call :func:`register_builtin_datasets`.
"""

from __future__ import annotations

import logging
import os

from maskformer.data.datasets.register_shapes import register_shapes

__all__ = ["datasets_root", "register_builtin_datasets"]

logger = logging.getLogger(__name__)


def datasets_root(root: str | None = None) -> str:
    """``root``, else ``$MASKFORMER_DATASETS``, else ``$DETECTRON2_DATASETS``, else ``./datasets``."""
    if root:
        return os.path.expanduser(root)
    return os.path.expanduser(
        os.environ.get("MASKFORMER_DATASETS") or os.environ.get("DETECTRON2_DATASETS") or "datasets"
    )


def register_builtin_datasets(root: str | None = None) -> list[str]:
    """Registers every built-in split under the datasets root; calling it again is a no-op.

    Returns:
        the names registered by this call.
    """
    root = datasets_root(root)
    names = register_shapes(root)
    logger.info("Registered %d built-in datasets under '%s'.", len(names), root)
    return names
