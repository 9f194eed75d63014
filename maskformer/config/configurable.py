"""``@configurable``: classes take plain keyword arguments; the config is read in ``from_config``.

A decorated ``__init__`` can be called in two ways::

    Head(in_channels=256, num_classes=133)          # by hand, e.g. in a notebook
    Head(cfg, input_shape)                           # from a config: calls Head.from_config

``from_config(cls, cfg, *args, **kwargs)`` returns the keyword arguments for ``__init__``; it is the
only place that reads the config. Explicit keyword arguments given next to ``cfg`` override what
``from_config`` returns. Functions (builders) can be decorated with ``from_config=fn`` as well.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["WithoutOptions", "configurable"]


def _is_cfg(obj: Any) -> bool:
    from .config import CfgNode

    return isinstance(obj, CfgNode)


def _called_with_cfg(*args: Any, **kwargs: Any) -> bool:
    if args and _is_cfg(args[0]):
        return True
    return _is_cfg(kwargs.get("cfg"))


def _call_from_config(from_config: Callable, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Calls ``from_config`` with the arguments it accepts; the rest override its result."""
    params = inspect.signature(from_config).parameters
    takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if takes_var_kw:
        return from_config(*args, **kwargs)
    accepted = {k: v for k, v in kwargs.items() if k in params}
    extra = {k: v for k, v in kwargs.items() if k not in params}
    result = from_config(*args, **accepted)
    result.update(extra)
    return result


def configurable(init_func: Callable | None = None, *, from_config: Callable | None = None):
    """Decorates a class ``__init__`` (no arguments) or a function (with ``from_config=``).

    Args:
        init_func: the ``__init__`` being decorated (when used as ``@configurable``).
        from_config: for decorating a plain function, the function mapping ``cfg`` to kwargs.
    """
    if init_func is not None:
        if not (inspect.isfunction(init_func) and init_func.__name__ == "__init__"):
            raise TypeError("@configurable without arguments decorates a class __init__ only.")

        @functools.wraps(init_func)
        def wrapped_init(self, *args: Any, **kwargs: Any) -> None:
            if _called_with_cfg(*args, **kwargs):
                cls_from_config = getattr(type(self), "from_config", None)
                if cls_from_config is None:
                    raise AttributeError(
                        f"{type(self).__name__} was given a config but defines no from_config()."
                    )
                kwargs = _call_from_config(cls_from_config, *args, **kwargs)
                init_func(self, **kwargs)
            else:
                init_func(self, *args, **kwargs)

        return wrapped_init

    if from_config is None:
        return configurable  # used as @configurable() with no arguments: same as bare
    if not inspect.isfunction(from_config):
        raise TypeError("from_config must be a function.")

    def wrapper(orig_func: Callable) -> Callable:
        @functools.wraps(orig_func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if _called_with_cfg(*args, **kwargs):
                return orig_func(**_call_from_config(from_config, *args, **kwargs))
            return orig_func(*args, **kwargs)

        wrapped.from_config = from_config  # type: ignore[attr-defined]
        return wrapped

    return wrapper


class WithoutOptions:
    """Mixin for a registered component that a config builds but that reads nothing from it.

    ``Cls(cfg)`` and ``Cls()`` both work; a subclass with options defines its own decorated
    ``__init__`` and ``from_config``.
    """

    @configurable
    def __init__(self) -> None:
        super().__init__()

    @classmethod
    def from_config(cls, cfg) -> dict:
        return {}
