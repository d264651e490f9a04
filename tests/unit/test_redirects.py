"""The redirect policy: what the next hop carries, decided without I/O."""

from __future__ import annotations

from chalicelib.domain.redirects import Hop, Refused, next_hop

HOME = ("https", "api.example.test", 443)
OTHER = ("https", "cdn.example.test", 443)


def test_same_origin_keeps_method_body_and_headers() -> None:
    assert next_hop(307, "PUT", "{}", bare=False, origin=HOME, home=HOME) == Hop("PUT", "{}", False)


def test_scheme_or_port_change_is_another_origin() -> None:
    for origin in [("http", "api.example.test", 80), ("https", "api.example.test", 8443)]:
        assert next_hop(302, "GET", None, bare=False, origin=origin, home=HOME) == Hop(
            "GET", None, True
        )


def test_post_after_303_becomes_a_bare_get_elsewhere() -> None:
    assert next_hop(303, "POST", "{}", bare=False, origin=OTHER, home=HOME) == Hop(
        "GET", None, True
    )


def test_body_to_another_origin_is_refused() -> None:
    refused = next_hop(308, "POST", "{}", bare=False, origin=OTHER, home=HOME)
    assert isinstance(refused, Refused) and "cdn.example.test" in refused.reason


def test_bare_stays_bare_back_home() -> None:
    assert next_hop(302, "GET", None, bare=True, origin=HOME, home=HOME) == Hop("GET", None, True)


def test_origin_of_fills_default_ports_and_ignores_case() -> None:
    from chalicelib.domain.redirects import origin_of

    assert origin_of("https://API.example.test/x") == HOME
    assert origin_of("https://api.example.test:443/y?q=1") == HOME
    assert origin_of("http://api.example.test/") == ("http", "api.example.test", 80)
    assert origin_of("https://api.example.test:bad/") != HOME
