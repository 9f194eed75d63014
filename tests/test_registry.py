import pytest

from maskformer.registry import Registry


def test_register_decorator_and_lookup():
    reg = Registry("THING")

    @reg.register()
    class Foo:
        pass

    def bar():
        return 3

    reg.register(bar, name="baz")
    assert reg.get("Foo") is Foo
    assert reg.get("baz")() == 3
    assert "Foo" in reg and len(reg) == 2
    assert reg.keys() == ["Foo", "baz"]


def test_duplicate_and_missing_names_give_clear_errors():
    reg = Registry("THING")
    reg.register(lambda: 1, name="ResNet")
    with pytest.raises(KeyError, match="already registered"):
        reg.register(lambda: 2, name="ResNet")
    with pytest.raises(KeyError, match=r"Did you mean \['ResNet'\]"):
        reg.get("ResNett")


def test_unregister():
    reg = Registry("THING")
    reg.register(int, name="x")
    reg.unregister("x")
    assert "x" not in reg
