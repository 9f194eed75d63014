"""Meta-architectures."""

from .build import META_ARCH_REGISTRY

__all__ = ["META_ARCH_REGISTRY"]
