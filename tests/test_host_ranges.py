"""Pure logic of the file host: Range and Content-Range, preconditions, token bucket, routing table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bcs.bandwidth import TokenBucket, as_paced
from bcs.config import Config, UrlConfig, UrlGroupConfig
from bcs.host.download import TrackedFile
from bcs.host.limits import TransferGate
from bcs.host.routing import RoutingTable
from bcs.http.ranges import (
    ByteRange,
    Precondition,
    RangeNotSatisfiable,
    Validators,
    check_preconditions,
    http_date,
    if_range_matches,
    parse_content_range,
    parse_range,
)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-499", 1000, [(0, 499)]),
        ("bytes=500-", 1000, [(500, 999)]),
        ("bytes=-300", 1000, [(700, 999)]),
        ("bytes=-3000", 1000, [(0, 999)]),
        ("bytes=900-5000", 1000, [(900, 999)]),
        ("BYTES = 1-2 , 5-6", 1000, [(1, 2), (5, 6)]),
        ("bytes=500-600,0-10,500-600", 1000, [(500, 600), (0, 10), (500, 600)]),  # kept, not merged
        ("bytes=2000-3000,0-0", 1000, [(0, 0)]),  # unsatisfiable parts are dropped
        ("bytes=0-0,,", 1000, [(0, 0)]),
    ],
)
def test_parse_range_keeps_order_and_clamps(header: str, size: int, expected: list[tuple[int, int]]) -> None:
    assert parse_range(header, size) == [ByteRange(a, b) for a, b in expected]


@pytest.mark.parametrize(
    "header",
    ["bytes=5-1", "bytes=a-b", "bytes=", "bytes=-", "bits=0-1", "0-1", "bytes=1-2-3", "bytes=\u0661-2"],
)
def test_parse_range_ignores_malformed_headers(header: str) -> None:
    assert parse_range(header, 1000) is None


def test_parse_range_ignores_too_many_parts() -> None:
    assert parse_range("bytes=" + ",".join(["0-0"] * 1000), 10) is None


def test_parse_range_ignores_overlaps_that_amplify_the_response() -> None:
    assert parse_range("bytes=0-,0-,0-", 1000) is None
    assert parse_range("bytes=0-599,400-999", 1000) == [ByteRange(0, 599), ByteRange(400, 999)]


@pytest.mark.parametrize(("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=0-", 0)])
def test_parse_range_raises_when_nothing_is_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_parse_range_reads_numbers_of_thousands_of_digits_without_int() -> None:
    huge = "9" * 4400  # int() refuses more than 4300 digits
    with pytest.raises(RangeNotSatisfiable):
        parse_range(f"bytes={huge}-", 1000)
    assert parse_range(f"bytes=10-{huge}", 1000) == [ByteRange(10, 999)]
    assert parse_range(f"bytes=-{huge}", 1000) == [ByteRange(0, 999)]
    assert parse_range(f"bytes={'0' * 4400}5-{'0' * 4400}9", 1000) == [ByteRange(5, 9)]


def test_byte_range_content_range() -> None:
    assert ByteRange(0, 9).content_range(100) == "bytes 0-9/100"
    assert ByteRange(0, 9).length == 10


def test_preconditions_follow_rfc_order() -> None:
    v = Validators.of(10, 1_700_000_000_123_456_789)
    old, new = http_date(1_600_000_000), http_date(1_800_000_000)
    assert check_preconditions(v, None, None, None, None) is Precondition.PASS
    assert check_preconditions(v, '"x"', None, None, None) is Precondition.FAILED
    assert check_preconditions(v, f"W/{v.etag}", None, None, None) is Precondition.FAILED
    assert check_preconditions(v, f'"x", {v.etag}', None, None, None) is Precondition.PASS
    assert check_preconditions(v, "*", old, None, None) is Precondition.PASS  # If-Match wins over IUS
    assert check_preconditions(v, None, old, None, None) is Precondition.FAILED
    assert check_preconditions(v, None, "garbage", None, None) is Precondition.PASS
    assert check_preconditions(v, None, None, f"W/{v.etag}", None) is Precondition.NOT_MODIFIED
    assert check_preconditions(v, None, None, '"x"', v.last_modified) is Precondition.PASS  # INM wins
    assert check_preconditions(v, None, None, None, v.last_modified) is Precondition.NOT_MODIFIED
    assert check_preconditions(v, None, None, None, new) is Precondition.NOT_MODIFIED
    assert check_preconditions(v, None, None, None, old) is Precondition.PASS


def test_if_range_needs_a_strong_match() -> None:
    v = Validators.of(10, 1_700_000_000_000_000_000)
    assert if_range_matches(v, None)
    assert if_range_matches(v, v.etag)
    assert if_range_matches(v, v.last_modified)
    assert not if_range_matches(v, "W/" + v.etag)
    assert not if_range_matches(v, http_date(1_700_000_001))
    assert not if_range_matches(v, "nonsense")


@pytest.mark.parametrize(("first", "last", "size"), [(0, 0, 1), (500, 999, 1000), (0, 10**18, 10**18 + 1)])
def test_content_range_the_host_writes_is_read_back_by_the_client(first: int, last: int, size: int) -> None:
    assert parse_content_range(ByteRange(first, last).content_range(size)) == (first, last, size)


@pytest.mark.parametrize("value", ["bytes 5-4/10", "bytes 0-10/10", "bytes */10", "items 0-1/2", "bytes 0-1"])
def test_content_range_that_is_invalid_or_unsatisfied_reads_as_none(value: str) -> None:
    assert parse_content_range(value) is None


def test_etag_changes_with_size_and_mtime() -> None:
    assert Validators.of(10, 5).etag != Validators.of(11, 5).etag != Validators.of(10, 6).etag


def test_token_bucket_paces_reservations_and_changes_rate_live() -> None:
    now = [100.0]
    bucket = TokenBucket(1000, burst=0.05, clock=lambda: now[0])
    assert bucket.reserve(500) == 0.0
    assert bucket.reserve(500) == pytest.approx(0.5)
    assert bucket.reserve(1000) == pytest.approx(1.0)
    bucket.set_rate(10_000)  # earlier reservations are forgotten: the new rate applies at once
    assert bucket.reserve(1000) == 0.0
    assert bucket.reserve(1000) == pytest.approx(0.1)
    now[0] += 10  # idle time saves no burst
    assert bucket.reserve(1000) == 0.0
    assert bucket.reserve(1000) == pytest.approx(0.1)
    bucket.set_rate(0)
    assert bucket.reserve(10**9) == 0.0


def test_take_saves_a_burst_then_sleeps_off_the_debt_unless_cancelled() -> None:
    bucket = TokenBucket(10_000, burst=0.25)
    time.sleep(0.3)  # idle: a quarter of a second of rate saved, no more
    started = time.monotonic()
    bucket.take(2500)
    assert time.monotonic() - started < 0.05
    bucket.take(1000)  # 0.1 s of debt
    assert time.monotonic() - started >= 0.09
    started = time.monotonic()
    bucket.take(100_000, cancelled=lambda: True)  # a cancelled transfer does not wait out 10 s
    assert time.monotonic() - started < 0.05


def test_only_bodies_of_a_paced_class_are_paced(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    with TrackedFile(path, "rb") as paced, open(path, "rb") as plain:
        assert as_paced(paced) is paced and as_paced(plain) is None


def test_transfer_gate_counts_against_a_live_limit() -> None:
    gate = TransferGate(2)
    first, second = gate.enter(), gate.enter()
    assert first is not None and second is not None and gate.enter() is None
    gate.limit = 3
    third = gate.enter()
    assert third is not None and gate.active == 3
    third.release()
    gate.limit = 0
    assert all(gate.enter() is not None for _ in range(100))


def test_a_slot_released_twice_gives_its_place_back_once() -> None:
    gate = TransferGate(1)
    slot = gate.enter()
    assert slot is not None and gate.enter() is None
    slot.release()
    slot.release()  # the error path and the body's close both end a transfer
    assert gate.active == 0
    assert gate.enter() is not None and gate.enter() is None


def _config(groups: list[tuple[str, list[tuple[str, str]]]]) -> Config:
    config = Config(
        url_groups=[
            UrlGroupConfig(url_group=g, urls=[UrlConfig(s, p) for s, p in urls]) for g, urls in groups
        ]
    )
    config.server.max_url_groups = 100_000
    config.validate()
    return config


def test_routing_precedence_and_directory_prefixes(tmp_path: object) -> None:
    import pathlib

    root = pathlib.Path(str(tmp_path))
    (root / "d").mkdir()
    (root / "f").write_text("f")
    config = _config(
        [
            ("http://+:80/S/", [("a", str(root / "f"))]),
            ("http://host.example:80/E/", [("x/y", str(root / "d")), ("x/y/z.txt", str(root / "f"))]),
            ("http://*:80/E/", [("a", str(root / "f"))]),
            ("http://*:81/W/", [("a", str(root / "f"))]),
        ]
    )
    table = RoutingTable.build(config)
    assert table.ports() == {80: "http", 81: "http"}
    group, _ = table.find_group(80, "host.example", "e")
    assert group is not None and group.runtime.prefix.host == "host.example"
    group, _ = table.find_group(80, "other", "e")
    assert group is not None and group.runtime.prefix.host == "*"
    explicit, _ = table.find_group(80, "host.example", "e")
    assert explicit is not None
    entry, below = RoutingTable.find_url(explicit, "x/y/sub/file.bin")
    assert entry is not None and entry.suffix == "x/y" and below == "sub/file.bin"
    entry, below = RoutingTable.find_url(explicit, "X/Y/z.TXT")
    assert entry is not None and entry.suffix == "x/y/z.txt" and below == ""
    assert RoutingTable.find_url(explicit, "x")[0] is None
    assert table.find_group(82, "h", "e") == (None, True)


def test_routing_stays_constant_time_with_many_groups_and_urls(tmp_path: object) -> None:
    groups = [
        (f"http://+:{8000 + g % 10}/G{g}/", [(f"dir{u}/file{u}", "/nonexistent") for u in range(10)])
        for g in range(2000)
    ]
    small = RoutingTable.build(_config(groups[:10]))
    large = RoutingTable.build(_config(groups))

    def per_lookup(table: RoutingTable, port: int, segment: str) -> float:
        t0 = time.perf_counter()
        for _ in range(20_000):
            group, _ = table.find_group(port, "h", segment)
            assert group is not None
            table.find_url(group, "dir9/file9")
        return (time.perf_counter() - t0) / 20_000

    fast, slow = per_lookup(small, 8009, "g9"), per_lookup(large, 8009, "g1999")
    assert slow < 20e-6 and slow < fast * 3, (fast, slow)


def test_runtime_survives_table_rebuilds_and_takes_new_limits() -> None:
    config = _config([("http://+:80/A/", [])])
    first = RoutingTable.build(config)
    runtime = first.runtimes["http://+:80/a/"]
    runtime.counters.requests = 5
    config.url_groups[0].bandwidth_limit = 4096
    config.url_groups[0].connection_limit = 9
    second = RoutingTable.build(config, first.runtimes)
    assert second.runtimes["http://+:80/a/"] is runtime
    assert runtime.bucket.rate == 4096 and runtime.gate.limit == 9 and runtime.counters.requests == 5
