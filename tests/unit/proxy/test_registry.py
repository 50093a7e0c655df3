from pathlib import Path

import pytest

import harness.proxy.toxics as toxics_package
from harness.proxy.registry import InvalidAttributes, UnknownToxicType, create_toxic, known_types, toxic_class


def test_every_toxic_file_registers_under_its_own_name() -> None:
    files = sorted(p.stem for p in Path(toxics_package.__path__[0]).glob("*.py") if not p.stem.startswith("_"))
    assert known_types() == files
    for name in files:
        assert toxic_class(name).type_name == name


def test_v1_toxics_are_known() -> None:
    assert {"latency", "http_error", "http_latency"} <= set(known_types())


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(UnknownToxicType) as info:
        create_toxic("bandwith", {})
    message = str(info.value)
    assert "'bandwith'" in message
    for name in known_types():
        assert name in message


def test_bad_attributes_name_the_field() -> None:
    with pytest.raises(InvalidAttributes, match="latency"):
        create_toxic("latency", {"latency": -5})
    with pytest.raises(InvalidAttributes, match="latancy"):
        create_toxic("latency", {"latancy": 5})


def test_update_merges_attributes() -> None:
    toxic = create_toxic("latency", {"latency": 100, "jitter": 10})
    assert toxic.updated({"jitter": 0}).attributes() == {"latency": 100, "jitter": 0}
    assert toxic.attributes() == {"latency": 100, "jitter": 10}  # the original is untouched
