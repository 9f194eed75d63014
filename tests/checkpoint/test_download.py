"""MODEL.WEIGHTS resolution: local paths, detectron2:// and URL names, cache, offline errors.

Downloads are served by a real HTTP server on 127.0.0.1, including URLs whose path climbs out of
the cache with ``..`` (plain or percent-encoded), which must be refused before anything is written.
"""

import functools
import http.server
import os
import threading
import urllib.error

import pytest

from maskformer.checkpoint import download
from maskformer.checkpoint.download import cached_path_for, resolve_weights_path, url_for

M2F_URL = (
    "https://dl.fbaipublicfiles.com/maskformer/mask2former/coco/panoptic/"
    "maskformer2_R50_bs16_50ep/model_final_94dc52.pkl"
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKFORMER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MASKFORMER_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_local_paths(tmp_path, cache):
    assert resolve_weights_path("") == ""
    f = tmp_path / "w.pth"
    f.write_bytes(b"x")
    assert resolve_weights_path(str(f)) == str(f)
    with pytest.raises(FileNotFoundError, match="MODEL.WEIGHTS = '.*missing.pkl' does not exist"):
        resolve_weights_path(str(tmp_path / "missing.pkl"))


def test_names_map_to_urls_and_cache(cache):
    assert url_for("detectron2://ImageNetPretrained/torchvision/R-50.pkl") == (
        "https://dl.fbaipublicfiles.com/detectron2/ImageNetPretrained/torchvision/R-50.pkl"
    )
    assert url_for("/a/b.pkl") is None
    assert cached_path_for(M2F_URL) == os.path.join(
        cache, "maskformer/mask2former/coco/panoptic/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl"
    )
    assert cached_path_for("https://example.org/x/y.pth") == os.path.join(cache, "example.org/x/y.pth")


def test_cached_file_is_used_without_network(cache, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("must not download a cached file")

    monkeypatch.setattr(download, "_download", no_network)
    dst = cached_path_for(download.url_for("detectron2://ImageNetPretrained/MSRA/R-50.pkl"))
    os.makedirs(os.path.dirname(dst))
    open(dst, "wb").close()
    assert resolve_weights_path("detectron2://ImageNetPretrained/MSRA/R-50.pkl") == dst


def test_unreachable_url_says_where_to_put_the_file(cache, monkeypatch):
    def fail(url, dst, timeout):
        assert timeout <= 30
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(download, "_download", fail)
    with pytest.raises(FileNotFoundError) as info:
        resolve_weights_path(M2F_URL)
    message = str(info.value)
    assert "no route to host" in message and cached_path_for(M2F_URL) in message


def test_offline_env_skips_the_download(cache, monkeypatch):
    monkeypatch.setenv("MASKFORMER_OFFLINE", "1")
    monkeypatch.setattr(download, "_download", lambda *a: (_ for _ in ()).throw(AssertionError("downloaded")))
    with pytest.raises(FileNotFoundError, match="MASKFORMER_OFFLINE"):
        resolve_weights_path("detectron2://ImageNetPretrained/torchvision/R-50.pkl")


@pytest.fixture
def http_root(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields ``(folder, base_url)``."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_over_http_writes_the_file(cache, http_root):
    root, base = http_root
    (root / "remote.pkl").write_bytes(b"weights")
    path = resolve_weights_path(f"{base}/remote.pkl")
    assert path == os.path.join(cache, base.split("//")[1], "remote.pkl")
    assert open(path, "rb").read() == b"weights"
    assert not [p for p in os.listdir(os.path.dirname(path)) if ".part" in p]


@pytest.mark.parametrize(
    "path",
    ["/../../escaped.pth", "/%2e%2e/%2E%2E/escaped.pth", "/a/..%2f..%2f..%2fx.pth", "/x/../../../x.pth"],
)
def test_traversal_urls_never_write_outside_the_cache(tmp_path, cache, http_root, path):
    root, base = http_root
    for name in ("escaped.pth", "x.pth"):  # the server drops '..' segments and serves these
        (root / name).write_bytes(b"payload")
    with pytest.raises(ValueError, match="outside the weights cache"):
        resolve_weights_path(base + path)
    written = [p for p in tmp_path.rglob("*.pth*") if root not in p.parents]
    assert written == []


def test_inside_dot_dot_is_normalised_and_only_http_schemes_are_fetched(tmp_path, cache):
    assert cached_path_for("https://example.org/a/../b.pth") == os.path.join(cache, "example.org/b.pth")
    expected = os.path.join(cache, "example.org/b.pth")
    assert cached_path_for("https://user:secret@example.org/b.pth") == expected
    with pytest.raises(ValueError, match="outside the weights cache"):
        cached_path_for("https://../x.pth")  # a host of '..'
    src = tmp_path / "local.pth"
    src.write_bytes(b"x")
    for name in (src.as_uri(), "ftp://example.org/x.pth", "s3://bucket/x.pth"):
        with pytest.raises(ValueError, match="is not supported. Use http://, https://"):
            resolve_weights_path(name)
