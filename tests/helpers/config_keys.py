"""Configs and YAML trees as flat ``{"A.B.C": value}`` dicts, for key-by-key comparisons."""


def flatten(tree: dict, prefix: str = "", tuples_as_lists: bool = True) -> dict:
    """``{"A.B.C": value}`` for a nested dict or config.

    Args:
        tree: a nested dict (a loaded YAML file) or a ``CfgNode``.
        prefix: prepended to every key (the path of ``tree`` in a larger tree).
        tuples_as_lists: tuples become lists, as YAML loads them; ``False`` keeps every value as is.
    """
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + key + ".", tuples_as_lists))
        elif tuples_as_lists and isinstance(value, tuple):
            flat[prefix + key] = list(value)
        else:
            flat[prefix + key] = value
    return flat
