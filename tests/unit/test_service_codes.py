"""Routing MO destinations to service codes (carriers.service_codes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.service_codes import Route, ServiceCodeRouter

CODES = {
    "10658000": "newspaper_cm",
    "106558000678": "newspaper_cu",
    "106597009": "newspaper_ct",
}


@pytest.fixture
def router() -> ServiceCodeRouter:
    return ServiceCodeRouter(CODES)


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("10658000", Route(short_code="10658000", service="newspaper_cm", extension="")),
        ("10658000123", Route(short_code="10658000", service="newspaper_cm", extension="123")),
        ("106558000678", Route(short_code="106558000678", service="newspaper_cu", extension="")),
        ("1065580006789", Route(short_code="106558000678", service="newspaper_cu", extension="9")),
        ("106597009001", Route(short_code="106597009", service="newspaper_ct", extension="001")),
    ],
)
def test_routes_by_prefix_with_extension(
    router: ServiceCodeRouter, destination: str, expected: Route
) -> None:
    assert router.route(destination) == expected


@pytest.mark.parametrize(
    "destination",
    [
        " 10658000123 ",
        "1065 8000 123",
        "10658000-123",
        "+10658000123",
        "8610658000123",
        "+8610658000123",
        "008610658000123",
        "１０６５８０００１２３",
    ],
)
def test_destination_is_normalised(router: ServiceCodeRouter, destination: str) -> None:
    assert router.route(destination) == Route(
        short_code="10658000", service="newspaper_cm", extension="123"
    )


@pytest.mark.parametrize(
    "destination",
    ["", "   ", "1065800", "10655000", "10086", "106580", "abc", "10658000x", "1065800O123"],
)
def test_unknown_destinations_are_not_routed(router: ServiceCodeRouter, destination: str) -> None:
    assert router.route(destination) is None


def test_longest_prefix_wins() -> None:
    router = ServiceCodeRouter({"10658000": "general", "106580001": "sports"})
    assert router.route("1065800012") == Route(
        short_code="106580001", service="sports", extension="2"
    )
    assert router.route("106580002") == Route(
        short_code="10658000", service="general", extension="2"
    )
    assert router.route("106580001") == Route(
        short_code="106580001", service="sports", extension=""
    )


def test_country_prefix_is_only_dropped_before_a_106_code() -> None:
    router = ServiceCodeRouter({"8612": "odd"})
    assert router.route("86123") == Route(short_code="8612", service="odd", extension="3")


@pytest.mark.parametrize(
    "codes",
    [{"": "x"}, {"1065A": "x"}, {"10658000": ""}, {"10658000": "a", " 10658000": "b"}],
)
def test_bad_configuration_is_rejected(codes: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ServiceCodeRouter(codes)


def test_empty_router_routes_nothing() -> None:
    assert ServiceCodeRouter({}).route("10658000") is None


def test_codes_are_exposed_read_only(router: ServiceCodeRouter) -> None:
    assert dict(router.codes) == CODES
    with pytest.raises(TypeError):
        router.codes["1"] = "x"  # type: ignore[index]


@given(st.sampled_from(sorted(CODES)), st.text(alphabet="0123456789", max_size=8))
def test_any_extension_routes_back_to_its_code(code: str, extension: str) -> None:
    route = ServiceCodeRouter(CODES).route(code + extension)
    assert route is not None
    assert route.short_code + route.extension == code + extension
    assert route.service == CODES[route.short_code]
