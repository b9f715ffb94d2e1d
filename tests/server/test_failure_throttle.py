"""The login failure throttle stays at its cap however many failures an address piles up."""

from __future__ import annotations

from track.server.auth import FailureThrottle


def test_penalty_stays_at_cap_after_thousands_of_failures() -> None:
    """Malformed logins count as failures without waiting, so the count can pass 1024 quickly."""
    throttle = FailureThrottle()
    penalties = [throttle.failed("1.2.3.4") for _ in range(1100)]
    assert penalties[:3] == [0.25, 0.5, 1.0]
    assert set(penalties[5:]) == {5.0}
