import pytest

from maskformer.config import CfgNode, configurable


class Head:
    @configurable
    def __init__(self, *, in_channels: int, num_classes: int, dropout: float = 0.0):
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.dropout = dropout

    @classmethod
    def from_config(cls, cfg, in_channels):
        return {"in_channels": in_channels, "num_classes": cfg.NUM_CLASSES}


def _cfg():
    return CfgNode({"NUM_CLASSES": 7})


def test_build_by_hand_and_from_config_agree():
    by_hand = Head(in_channels=4, num_classes=7)
    from_cfg = Head(_cfg(), 4)
    assert vars(by_hand) == vars(from_cfg)


def test_explicit_kwargs_override_from_config():
    head = Head(_cfg(), in_channels=4, dropout=0.5)
    assert head.dropout == 0.5 and head.num_classes == 7
    head = Head(cfg=_cfg(), in_channels=2)
    assert head.in_channels == 2


def test_decorated_function():
    @configurable(from_config=lambda cfg: {"k": cfg.NUM_CLASSES})
    def build(k, scale=1):
        return k * scale

    assert build(_cfg()) == 7
    assert build(_cfg(), scale=2) == 14
    assert build(k=3) == 3


def test_missing_from_config_is_an_error():
    class NoFromConfig:
        @configurable
        def __init__(self, x=1):
            self.x = x

    with pytest.raises(AttributeError, match="from_config"):
        NoFromConfig(_cfg())
