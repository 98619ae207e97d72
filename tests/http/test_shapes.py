"""Wire encodings of ``skysend_http.shapes`` against their definitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from skysend_http.shapes import iso_ms


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (1_704_067_260_000, "2024-01-01T00:01:00.000Z"),
        (1_709_164_799_999, "2024-02-28T23:59:59.999Z"),
        (1_709_251_200_042, "2024-03-01T00:00:00.042Z"),  # after a leap day
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_iso_ms_is_javascripts_to_iso_string(ms: int, expected: str) -> None:
    assert iso_ms(ms) == expected


def test_iso_ms_matches_datetime_over_many_instants() -> None:
    for ms in range(0, 4_000_000_000_000, 7_777_777_777):
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        assert iso_ms(ms) == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
