"""Logging setup: console on the main process, one log file per process."""

from __future__ import annotations

import functools
import logging
import os
import sys

__all__ = ["setup_logger"]

_FORMAT = "[%(asctime)s] %(name)s %(levelname)s: %(message)s"
_DATE_FORMAT = "%m/%d %H:%M:%S"


@functools.lru_cache  # the same logger is configured once, however often setup is called
def setup_logger(
    output: str | None = None,
    distributed_rank: int = 0,
    name: str = "maskformer",
    level: int = logging.DEBUG,
) -> logging.Logger:
    """Configures logger ``name``: INFO to stdout on rank 0, DEBUG to a file on every rank.

    Args:
        output: a directory (the file is ``output/log.txt``) or a file path ending in
            ``.txt``/``.log``; None for no file. Rank r > 0 writes ``<file>.rank<r>``.
        distributed_rank: the process rank.
        name: the logger to configure (children such as ``maskformer.engine`` inherit it).
        level: the logger's level.

    Returns:
        The configured logger.
    """
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    formatter = logging.Formatter(_FORMAT, datefmt=_DATE_FORMAT)
    if distributed_rank == 0:
        console = logging.StreamHandler(stream=sys.stdout)
        console.setLevel(logging.INFO)
        console.setFormatter(formatter)
        logger.addHandler(console)
    if output is not None:
        filename = output if output.endswith((".txt", ".log")) else os.path.join(output, "log.txt")
        if distributed_rank > 0:
            filename = f"{filename}.rank{distributed_rank}"
        os.makedirs(os.path.dirname(os.path.abspath(filename)), exist_ok=True)
        file_handler = logging.FileHandler(filename, mode="a")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    return logger
