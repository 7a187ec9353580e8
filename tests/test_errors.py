"""The HRESULT table: one row per code, the HTTP formula, the BITS transient/fatal table."""

from __future__ import annotations

import pytest

from bcs import errors
from bcs.errors import (
    BcsError,
    HttpStatusError,
    InvalidStateError,
    error_from_hresult,
    format_hresult,
    http_status_is_transient,
    parse_hresult,
)


def test_every_code_is_unique_and_has_name_category_reason() -> None:
    rows = errors.codes()
    assert len(rows) >= 50
    assert len({c.hresult for c in rows}) == len(rows)
    assert len({c.name for c in rows}) == len(rows)
    for row in rows:
        assert row.hresult & 0x80000000, row.name
        assert row.category and row.reason and row.message
        assert getattr(errors, row.name) is row and row.name in errors.__all__


def test_bits_codes_have_their_documented_values() -> None:
    assert errors.BG_E_INVALID_STATE.hresult == 0x80200002
    assert errors.BG_E_EMPTY.hresult == 0x80200003
    assert errors.BG_E_SESSION_NOT_FOUND.hresult == 0x8020001F
    assert errors.BG_E_TOO_LARGE.hresult == 0x80200020
    assert errors.InvalidArgumentError().code == 0x80070057
    assert errors.AccessDeniedError().code == 0x80070005
    assert errors.ERROR_DISK_FULL.hresult == 0x80070070 and errors.ERROR_DISK_FULL.transient


def test_a_raise_can_narrow_the_reason_but_not_the_code() -> None:
    err = errors.AccessDeniedError("x", reason="PipePathTaken", noun="Server")
    assert err.error_id == "Bcs.Server.PipePathTaken" and err.code_name == "E_ACCESSDENIED"
    assert errors.BcsError(errors.ERROR_DISK_FULL, noun="Job").to_data()["errorId"] == "Bcs.Job.DiskFull"


def test_http_status_maps_to_0x8019_formula() -> None:
    assert HttpStatusError(404).code == 0x80190194
    assert HttpStatusError(404).header_value() == "0x80190194"
    assert HttpStatusError(503).code_name == "BG_E_HTTP_ERROR_503"
    assert error_from_hresult(0x801901A0).code == 0x801901A0


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (300, False),
        (305, False),
        (306, True),
        (307, False),
        (308, True),
        (400, False),
        (404, False),
        (408, True),
        (409, True),
        (500, True),
        (501, False),
        (503, True),
        (505, False),
        (600, True),
    ],
)
def test_http_status_classification_follows_bits_table(status: int, transient: bool) -> None:
    assert http_status_is_transient(status) is transient
    assert HttpStatusError(status).transient is transient


def test_error_data_carries_hresult_name_category_and_error_id() -> None:
    err = InvalidStateError("nope", noun="Job", target="{J}")
    assert err.to_data() == {
        "hresult": "0x80200002",
        "name": "BG_E_INVALID_STATE",
        "category": "InvalidOperation",
        "errorId": "Bcs.Job.InvalidState",
        "transient": False,
        "target": "{J}",
    }


def test_unregistered_hresult_still_builds_an_error() -> None:
    err = error_from_hresult(0x8020FFFF)
    assert isinstance(err, BcsError)
    assert err.header_value() == "0x8020FFFF"


@pytest.mark.parametrize("text", ["0x8020001F", "x8020001f", "8020001F", " 0X8020001f "])
def test_parse_hresult_accepts_every_peer_format(text: str) -> None:
    assert parse_hresult(text) == 0x8020001F


@pytest.mark.parametrize("text", ["", "0x", "zz", "0x123456789"])
def test_parse_hresult_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hresult(text)


def test_format_hresult_is_upper_case_eight_digits() -> None:
    assert format_hresult(0x5) == "0x00000005"
    assert format_hresult(-2145386494) == "0x80200002"


def test_a_code_in_the_table_twice_fails_at_import() -> None:
    with pytest.raises(RuntimeError):
        errors._row(0x80200002, "TWICE", "InvalidOperation", "Twice", False, "Duplicate.")
