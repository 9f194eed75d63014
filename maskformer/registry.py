"""The registry every extension point uses.

A registry maps a name (the string in a config) to a class or a function. Each pipeline stage
keeps its registries and their ``build_*`` functions in its ``build.py``:

- ``modeling/backbone/build.py``: ``BACKBONE_REGISTRY``, ``build_backbone``;
- ``modeling/pixel_decoder/build.py``: ``PIXEL_DECODER_REGISTRY``, ``build_pixel_decoder``;
- ``modeling/transformer_decoder/build.py``: ``TRANSFORMER_DECODER_REGISTRY``,
  ``build_transformer_decoder``;
- ``modeling/heads/build.py``: ``SEM_SEG_HEAD_REGISTRY``, ``build_sem_seg_head``;
- ``modeling/meta_arch/build.py``: ``META_ARCH_REGISTRY``, ``build_model`` (model and criterion);
- ``criterion/build.py``: ``CRITERION_REGISTRY``, ``MATCHER_REGISTRY``, ``build_criterion``,
  ``build_matcher``;
- ``data/mappers/build.py``: ``DATASET_MAPPER_REGISTRY``, ``build_mapper``;
- ``evaluation/build.py``: ``EVALUATOR_REGISTRY``, ``build_evaluator``;
- ``solver/build.py``: ``OPTIMIZER_REGISTRY``, ``LR_SCHEDULER_REGISTRY``, ``build_optimizer``,
  ``build_lr_scheduler``.

A researcher adds a component by decorating it, without editing the package::

    from maskformer.modeling import BACKBONE_REGISTRY

    @BACKBONE_REGISTRY.register()
    class MyBackbone(Backbone):
        ...
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["Registry"]


class Registry:
    """A name -> object mapping with a decorator interface and helpful lookup errors.

    Args:
        name: what the registry holds, e.g. ``"BACKBONE"``; used in error messages.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._obj_map: dict[str, Any] = {}

    def _do_register(self, name: str, obj: Any) -> None:
        if name in self._obj_map:
            raise KeyError(
                f"An object named '{name}' is already registered in the {self._name} registry; "
                "choose another name or unregister the old one first."
            )
        self._obj_map[name] = obj

    def register(self, obj: T | None = None, *, name: str | None = None) -> Any:
        """Registers ``obj`` under ``name`` (default: its ``__name__``).

        Used as a decorator (``@REG.register()``) or called directly (``REG.register(fn)``).
        """
        if obj is None:

            def deco(func_or_class: T) -> T:
                self._do_register(name or func_or_class.__name__, func_or_class)
                return func_or_class

            return deco
        self._do_register(name or obj.__name__, obj)
        return obj

    def unregister(self, name: str) -> None:
        """Removes ``name``; mainly for tests that register temporary components."""
        del self._obj_map[name]

    def get(self, name: str) -> Any:
        """Returns the object registered as ``name``.

        Raises:
            KeyError: naming the registry, the missing name, close matches and all choices.
        """
        if name not in self._obj_map:
            close = difflib.get_close_matches(name, self._obj_map.keys(), n=3)
            hint = f" Did you mean {close}?" if close else ""
            raise KeyError(
                f"No object named '{name}' in the {self._name} registry.{hint} "
                f"Registered: {sorted(self._obj_map)}. A custom component must be registered "
                f"(@{self._name}_REGISTRY.register()) before the model is built."
            )
        return self._obj_map[name]

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self._obj_map.items())

    def __len__(self) -> int:
        return len(self._obj_map)

    def keys(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._obj_map)

    def __repr__(self) -> str:
        return f"Registry(name={self._name!r}, items={self.keys()})"

