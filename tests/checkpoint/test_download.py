"""MODEL.WEIGHTS resolution: local paths, detectron2:// and URL names, cache, offline errors."""

import os
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


def test_download_writes_the_file(tmp_path, cache):
    src = tmp_path / "remote.pkl"
    src.write_bytes(b"weights")
    url = src.as_uri()  # file:// goes through the same urllib code path as https://
    path = resolve_weights_path(url)
    assert path == cached_path_for(url) and open(path, "rb").read() == b"weights"
    assert not [p for p in os.listdir(os.path.dirname(path)) if ".part" in p]
