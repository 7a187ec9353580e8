"""The pure parts of the upload server: BITS header parsing, the fragment table as a function and
the session transition table (the wire tests of test_host_upload.py run the same rules end to end)."""

from __future__ import annotations

import pytest

from bcs.errors import InvalidStateError
from bcs.host.upload.protocol import Step, plan_fragment
from bcs.host.upload.session import TRANSITIONS, SessionEvent, SessionState, UploadSession, transition
from bcs.http import bits
from bcs.http.bits import FragmentRange


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Create-Session", bits.PacketType.CREATE_SESSION),
        ("CREATE-SESSION", bits.PacketType.CREATE_SESSION),
        (" fragment ", bits.PacketType.FRAGMENT),
        ("Ping", bits.PacketType.PING),
        ("cancel-session", bits.PacketType.CANCEL_SESSION),
        ("Close-Session", bits.PacketType.CLOSE_SESSION),
        ("Ack", bits.PacketType.ACK),
        ("Create Session", None),
        ("", None),
        (None, None),
    ],
)
def test_packet_types_are_matched_case_insensitively(
    value: str | None, expected: bits.PacketType | None
) -> None:
    assert bits.parse_packet_type(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 0-4891/4892", FragmentRange(0, 4891, 4892)),
        ("Bytes 10-19/20", FragmentRange(10, 19, 20)),
        ("BYTES\t0-0/1", FragmentRange(0, 0, 1)),
        ("bytes 0-9223372036854775806/9223372036854775807", FragmentRange(0, 2**63 - 2, 2**63 - 1)),
        ("bytes */0", FragmentRange(0, -1, 0)),
        ("bytes 5-4/10", None),
        ("bytes 0-10/10", None),
        ("bytes 0-1/*", None),
        ("bytes=0-1/2", None),
        ("bytes 0-1/99999999999999999999", None),
        ("bytes 0-1/9223372036854775808", None),
        ("bytes \uff10-1/2", None),  # a full-width digit is no digit here
        ("bytes 0-1/2 x", None),
        ("", None),
        (None, None),
    ],
)
def test_fragment_content_range_parses_strictly(value: str | None, expected: FragmentRange | None) -> None:
    assert bits.parse_fragment_range(value) == expected


def test_fragment_range_header_round_trips() -> None:
    for rng in (FragmentRange(0, 99, 100), FragmentRange(0, -1, 0)):
        assert bits.parse_fragment_range(rng.header()) == rng


def test_supported_protocols_are_read_in_order_any_case_and_separator() -> None:
    value = "{11111111-2222-3333-4444-555555555555},7DF0354D-249B-430F-820D-3D2A9BEF4931 junk"
    assert bits.parse_supported_protocols(value) == [
        "{11111111-2222-3333-4444-555555555555}",
        bits.PROTOCOL_GUID,
    ]
    many = " ".join(["{11111111-2222-3333-4444-555555555555}"] * 100 + [bits.PROTOCOL_GUID])
    assert bits.PROTOCOL_GUID not in bits.parse_supported_protocols(many)  # only the first 100 are read


def test_session_ids_are_braced_upper_case_guids() -> None:
    sid = bits.new_session_id()
    assert len(sid) == 38 and sid == sid.upper() and sid[0] == "{" and sid[-1] == "}"
    assert bits.parse_session_id(sid.lower().strip("{}")) == sid
    assert bits.parse_session_id("{" + "0" * 36 + "}") is None
    assert bits.parse_session_id("x" * 101) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rfc2119.txt", "rfc2119.txt"),
        ("a/b", None),
        ("c:x", None),
        ("x" * 261, None),
        ("", None),
        (None, None),
    ],
)
def test_content_name_is_a_bare_file_name(value: str | None, expected: str | None) -> None:
    assert bits.parse_content_name(value) == expected


def test_received_range_is_a_decimal_offset() -> None:
    assert bits.parse_received_range("4892") == 4892
    assert bits.parse_received_range("-1") is None
    assert bits.parse_received_range("0x10") is None
    assert bits.parse_received_range("\u0661\u0662") is None  # Arabic-Indic digits


# --- plan_fragment: each row of bits-protocol.md 2.4 ---------------------------------------------------


def plan(
    received: int, total: int | None, value: str | None, length: int | None, max_size: int = 0
) -> tuple[Step, int, int]:
    p = plan_fragment(received, total, bits.parse_fragment_range(value), length, max_size)
    return p.step, p.skip, p.write


def test_plan_append() -> None:
    assert plan(100, 300, "bytes 100-199/300", 100) == (Step.WRITE, 0, 100)
    assert plan(0, None, "bytes 0-99/300", 100) == (Step.WRITE, 0, 100)


def test_plan_overlap_writes_only_the_tail() -> None:
    assert plan(101, 151, "bytes 50-150/151", 101) == (Step.WRITE, 51, 50)


def test_plan_duplicate_writes_nothing() -> None:
    assert plan(101, 151, "bytes 0-100/151", 101)[0] is Step.DUPLICATE
    assert plan(151, 151, "bytes 100-150/151", 51)[0] is Step.DUPLICATE


def test_plan_gap() -> None:
    assert plan(100, 300, "bytes 101-200/300", 100)[0] is Step.GAP


def test_plan_malformed_total_changed_and_length_mismatch() -> None:
    assert plan(0, None, "bytes 0-9", 10)[0] is Step.MALFORMED
    assert plan(0, None, None, 10)[0] is Step.MALFORMED
    assert plan(10, 100, "bytes 10-19/200", 10)[0] is Step.MALFORMED
    assert plan(0, None, "bytes 0-9/100", 9)[0] is Step.MALFORMED
    assert plan(0, None, "bytes 0-9/100", None)[0] is Step.MALFORMED


def test_plan_too_large_comes_before_the_position_rules() -> None:
    assert plan(0, None, "bytes 0-9/1001", 10, max_size=1000)[0] is Step.TOO_LARGE
    assert plan(0, None, "bytes 0-9/1000", 10, max_size=1000)[0] is Step.WRITE
    assert plan(0, None, "bytes 0-9/10000", 10, max_size=0)[0] is Step.WRITE


def test_plan_empty_file() -> None:
    assert plan(0, None, "bytes */0", 0)[0] is Step.DUPLICATE


# --- the session transition table ---------------------------------------------------------------------


def test_every_pair_outside_the_table_raises() -> None:
    for state in SessionState:
        for event in SessionEvent:
            if (state, event) in TRANSITIONS:
                assert transition(state, event) is TRANSITIONS[(state, event)]
            else:
                with pytest.raises(InvalidStateError):
                    transition(state, event)


def test_expired_is_final_and_tombstones_answer_repeats() -> None:
    assert not any(state is SessionState.EXPIRED for state, _ in TRANSITIONS)
    assert transition(SessionState.CLOSED, SessionEvent.CLOSE) is SessionState.CLOSED
    assert transition(SessionState.CLOSED, SessionEvent.CANCEL) is SessionState.CLOSED
    assert transition(SessionState.RECEIVING, SessionEvent.CLOSE) is SessionState.CANCELLED
    with pytest.raises(InvalidStateError):
        transition(SessionState.CANCELLED, SessionEvent.DATA)


def test_a_session_stamps_its_end_once() -> None:
    s = UploadSession("{X}", "g", "/u", "/d", "")
    assert s.active and s.ended is None
    s.advance(SessionEvent.COMPLETE)
    s.advance(SessionEvent.CLOSE)
    ended = s.ended
    assert ended is not None and not s.active
    s.advance(SessionEvent.CLOSE)
    assert s.ended == ended
