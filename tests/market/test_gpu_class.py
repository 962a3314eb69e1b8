"""A server's GPU class: exact model and count after normalising case, spacing and an optional
"NVIDIA"; never a substring match."""

from __future__ import annotations

import pytest

from clore_host.market.gpu_class import (
    GpuClass,
    cross_check,
    from_names,
    listing_class,
    normalise_model,
    parse_spec,
    server_class,
)


@pytest.mark.parametrize(
    "text",
    [
        "1x NVIDIA GeForce GTX 1080 Ti",
        "1x GeForce GTX 1080 Ti",  # the seed's my_servers spelling
        "1X nvidia geforce gtx 1080 ti",
        "1 x  NVIDIA   GeForce GTX 1080 Ti ",
        "1x\tNVIDIA GeForce\tGTX 1080 Ti",
    ],
)
def test_spellings_of_one_model_are_one_class(text: str) -> None:
    assert parse_spec(text) == GpuClass("geforce gtx 1080 ti", 1, "")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1x NVIDIA GeForce RTX 4090", "1x NVIDIA GeForce RTX 4090 D"),
        ("1x NVIDIA RTX A4000", "1x NVIDIA RTX 4000 Ada Generation"),
        ("1x NVIDIA GeForce RTX 4080", "1x NVIDIA GeForce RTX 4080 SUPER"),
        ("1x NVIDIA GeForce RTX 3090", "1x NVIDIA GeForce RTX 3090 Ti"),
        ("1x NVIDIA GeForce RTX 4090", "1x RTX 4090"),  # "GeForce" is part of the name
        ("1x NVIDIA GeForce RTX 4090", "2x NVIDIA GeForce RTX 4090"),
    ],
)
def test_near_misses_are_other_classes(a: str, b: str) -> None:
    assert parse_spec(a) != parse_spec(b)


def test_the_count_and_the_name_as_written() -> None:
    cls = parse_spec("8x NVIDIA H100 80GB HBM3")
    assert cls is not None
    assert (cls.model, cls.count, cls.shown) == ("h100 80gb hbm3", 8, "NVIDIA H100 80GB HBM3")
    assert str(cls) == "8x NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize(
    "text",
    ["NVIDIA GeForce RTX 4090", "0x RTX 4090", "1025x RTX 4090", "x RTX 4090", "2x ", "", "-1x A"],
)
def test_a_spec_without_a_count_and_model_has_no_class(text: str) -> None:
    assert parse_spec(text) is None


def test_normalise_only_drops_a_leading_nvidia() -> None:
    assert normalise_model("  NVIDIA  GeForce RTX 4090 ") == "geforce rtx 4090"
    assert normalise_model("GeForce RTX 4090 NVIDIA") == "geforce rtx 4090 nvidia"
    assert normalise_model("NVIDIAGeForce") == "nvidiageforce"


def test_gpu_array_is_used_where_sent() -> None:
    names = ["NVIDIA GeForce RTX 3090", "GeForce RTX 3090"]
    assert listing_class("1x NVIDIA GeForce RTX 4090", names) == GpuClass("geforce rtx 3090", 2, "")
    assert listing_class("2x NVIDIA GeForce RTX 4090", None) == GpuClass("geforce rtx 4090", 2, "")
    # Mixed GPUs have no class (no peers), nor has an empty array.
    assert from_names(["NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 4090"]) is None
    assert from_names([]) is None


def test_this_servers_class_or_why_not() -> None:
    assert server_class({"gpu": "2x NVIDIA GeForce RTX 4090"}, None) == GpuClass(
        "geforce rtx 4090", 2, ""
    )
    nested = [["NVIDIA GeForce RTX 4090"], ["NVIDIA GeForce RTX 4090"]]
    assert server_class({"gpu": "1x A"}, nested) == GpuClass("geforce rtx 4090", 2, "")
    assert server_class(None, None) == "server_config has no specs.gpu"
    assert server_class({"gpu": 4090}, None) == "server_config has no specs.gpu"
    assert "is not '<count>x <model>'" in str(server_class({"gpu": "RTX 4090"}, None))
    assert "not a list of GPU names" in str(server_class({}, [1, 2]))
    assert "no single model" in str(server_class({}, ["A", "B"]))


def test_cross_check_with_the_drivers_names() -> None:
    cls = parse_spec("2x NVIDIA GeForce RTX 4090")
    assert cls is not None
    assert cross_check(cls, ["NVIDIA GeForce RTX 4090"] * 2) is None
    assert cross_check(cls, []) is None  # the GPUs were not read: nothing to compare
    fewer = cross_check(cls, ["NVIDIA GeForce RTX 4090"])
    assert fewer == (
        "the server's class is 2x NVIDIA GeForce RTX 4090 (server_config), but the driver "
        "lists 1 GPU(s): NVIDIA GeForce RTX 4090"
    )
    other = cross_check(cls, ["NVIDIA GeForce RTX 4090 D"] * 2)
    assert other is not None and "NVIDIA GeForce RTX 4090 D" in other
