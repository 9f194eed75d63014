"""Resolve ``MODEL.WEIGHTS`` to a local file: local paths, ``detectron2://`` and URLs.

Only ``http://``, ``https://`` and ``detectron2://`` names are fetched. Remote weights are cached
under ``$MASKFORMER_CACHE`` (default ``~/.cache/maskformer``) at the URL's path, e.g. ``https://dl.fbaipublicfiles.com/maskformer/mask2former/coco/.../model_final_94dc52.pkl``
-> ``<cache>/maskformer/mask2former/coco/.../model_final_94dc52.pkl``. A download is tried only
when the file is not cached, with a short timeout, and never when ``MASKFORMER_OFFLINE=1``; when
it fails the error says exactly where to put the file.
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request

from maskformer.utils import comm

logger = logging.getLogger(__name__)

__all__ = ["resolve_weights_path", "cache_dir", "url_for", "cached_path_for"]

# Detectron2's prefix for its model zoo and ImageNet backbones.
DETECTRON2_PREFIX = "detectron2://"
DETECTRON2_BASE_URL = "https://dl.fbaipublicfiles.com/detectron2/"
DOWNLOAD_TIMEOUT_S = 10.0
_REMOTE_SCHEMES = ("http://", "https://")


def cache_dir() -> str:
    """``$MASKFORMER_CACHE`` or ``~/.cache/maskformer``."""
    return os.path.expanduser(os.environ.get("MASKFORMER_CACHE", "~/.cache/maskformer"))


def url_for(path: str) -> str | None:
    """The URL a ``MODEL.WEIGHTS`` value points to, or None for a local path.

    Raises:
        ValueError: for a ``scheme://`` other than http, https and detectron2 (e.g. file://, ftp://).
    """
    if path.startswith(DETECTRON2_PREFIX):
        return DETECTRON2_BASE_URL + path[len(DETECTRON2_PREFIX) :]
    if path.lower().startswith(_REMOTE_SCHEMES):
        return path
    if "://" in path:
        raise ValueError(
            f"MODEL.WEIGHTS = '{path}': the scheme '{path.split('://')[0]}://' is not supported. Use "
            f"http://, https://, '{DETECTRON2_PREFIX}...' or a local file path."
        )
    return None


def cached_path_for(url: str) -> str:
    """Where the file of ``url`` lives in the cache (the URL's path below ``cache_dir()``).

    Raises:
        ValueError: when the normalised destination is not strictly inside ``cache_dir()``.
    """
    parsed = urllib.parse.urlparse(url)
    host = parsed.netloc.rpartition("@")[2]  # never user:password@ in a file name
    relative = urllib.parse.unquote(parsed.path).lstrip("/")
    parts = [relative or host] if host == "dl.fbaipublicfiles.com" or not relative else [host, relative]
    root = os.path.abspath(cache_dir())
    dst = os.path.normpath(os.path.join(root, *parts))
    if os.path.commonpath([root, dst]) != root or dst == root:
        raise ValueError(
            f"Refusing to download {url}: its path leads to {dst}, outside the weights cache {root} "
            "($MASKFORMER_CACHE). Remove the '..' segments from the URL."
        )
    return dst


def _download(url: str, dst: str, timeout: float) -> None:
    """Fetch ``url`` to ``dst`` through a temporary file (never leaves a partial ``dst``)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = f"{dst}.part{os.getpid()}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _offline() -> bool:
    return os.environ.get("MASKFORMER_OFFLINE", "0").lower() in ("1", "true", "yes")


def _fetch_on_local_main(url: str, dst: str) -> str | None:
    """Download on local rank 0 only (others wait); returns the failure reason, or None."""
    reason = None
    if comm.get_local_rank() == 0:
        if _offline():
            reason = "MASKFORMER_OFFLINE is set"
        else:
            logger.info("Downloading %s to %s", url, dst)
            try:
                _download(url, dst, DOWNLOAD_TIMEOUT_S)
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = f"{type(e).__name__}: {e}"
    # Every rank reaches the barrier, also when rank 0 failed, so that nobody hangs.
    comm.synchronize()
    if reason is None and not os.path.isfile(dst):
        reason = "the local main process could not download it"
    return reason


def resolve_weights_path(path: str) -> str:
    """Turn a ``MODEL.WEIGHTS`` value into a local file path.

    Args:
        path: ``""`` (no weights), a local ``.pkl``/``.pth``/``.safetensors`` path (``~`` expanded),
            ``detectron2://<path>`` (Detectron2's model zoo, served from
            ``https://dl.fbaipublicfiles.com/detectron2/``), or an ``http(s)://`` URL such as the
            official ``https://dl.fbaipublicfiles.com/maskformer/...`` model-zoo files.

    Returns:
        A local file path (``""`` for ``""``).

    Raises:
        FileNotFoundError: a local path does not exist, or a remote file is neither cached nor
            downloadable; the message names the cache path to put the file at.
        ValueError: an unsupported scheme, or a URL whose path leads outside the cache.
    """
    if not path:
        return ""
    url = url_for(path)
    if url is None:
        local = os.path.expanduser(path)
        if not os.path.isfile(local):
            raise FileNotFoundError(
                f"MODEL.WEIGHTS = '{path}' does not exist. Give a local .pkl/.pth/.safetensors file, "
                f"a '{DETECTRON2_PREFIX}...' name or an https:// URL."
            )
        return local
    dst = cached_path_for(url)
    if os.path.isfile(dst):
        return dst
    reason = _fetch_on_local_main(url, dst)
    if reason is not None:
        raise FileNotFoundError(
            f"MODEL.WEIGHTS = '{path}' is not cached and could not be downloaded from {url} ({reason}). "
            f"Download it on a machine with internet access and put it at:\n  {dst}\n"
            "(the cache folder is $MASKFORMER_CACHE, default ~/.cache/maskformer), or set "
            "MODEL.WEIGHTS to a local file."
        )
    return dst
