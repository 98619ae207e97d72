"""The admin CLI's formats (clients.md §3.1, §3.5)."""

from __future__ import annotations

import pytest

from skysend_http.admin_cli import formats

NOW_S = 1_800_000_000


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (15_938_355, "15.2 MB"),
        (150 * 1024**2, "150.0 MB"),
        (2 * 1024**3, "2.0 GB"),
        (3 * 1024**4 // 2, "1.5 TB"),
        (2048 * 1024**4, "2048.0 TB"),
    ],
)
def test_size(n: int, text: str) -> None:
    assert formats.size(n) == text


@pytest.mark.parametrize(
    ("left_ms", "text"),
    [
        (-5000, "expired"),
        (0, "expired"),
        (1, "0s"),
        (45_000, "45s"),
        (59_999, "59s"),
        (60_000, "1m"),
        (3_599_000, "59m"),
        (3_600_000, "1h 0m"),
        (5 * 3_600_000 + 3 * 60_000 + 59_000, "5h 3m"),
        (86_400_000, "1d 0h"),
        (6 * 86_400_000 + 4 * 3_600_000 + 1, "6d 4h"),
    ],
)
def test_remaining(left_ms: int, text: str) -> None:
    assert formats.remaining(NOW_S, NOW_S * 1000 - left_ms) == text


def test_timestamps_are_utc() -> None:
    assert formats.utc(0) == "1970-01-01 00:00:00"
    assert formats.utc(NOW_S) == "2027-01-15 08:00:00"
    assert formats.iso(NOW_S) == "2027-01-15T08:00:00.000Z"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m"), (3600, "1h"), (86400, "1d"), (604800, "7d"), (90, "90s"), (5400, "90m")],
)
def test_duration(seconds: int, text: str) -> None:
    assert formats.duration(seconds) == text


def test_table_pads_to_the_widest_cell() -> None:
    assert formats.table(["ID", "Size"], [["a", "1000 B"], ["bbbb", "5 B"]]) == [
        "ID    Size",
        "----  ------",
        "a     1000 B",
        "bbbb  5 B",
    ]
