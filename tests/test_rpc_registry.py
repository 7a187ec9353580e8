"""Parameter validation against the method registry (unit level; the pipe tests cover the wire)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bcs.methods import load_registry
from bcs.rpc.registry import Method, Param, ParamError, snake_case

FILES = Param(
    "files",
    "array",
    "files",
    fields=(
        Param("remoteUrl", "string", "u", required=True),
        Param("localPath", "string", "p", required=True),
    ),
)
METHOD = Method(
    "t.m",
    "test",
    (
        Param("name", "string", "n", required=True, max_length=5),
        Param("count", "integer", "c", minimum=1, maximum=10),
        Param("ratio", "number", "r"),
        Param("flag", "boolean", "f", default=False),
        Param("kind", "string", "k", enum=("A", "B")),
        Param("tags", "array", "t", items="string"),
        FILES,
    ),
    "null",
    "Test-Bcs",
    lambda ctx, **kw: kw,
)


def test_bind_fills_defaults_and_snake_cases_names() -> None:
    assert METHOD.bind({"name": "x"}) == {
        "name": "x",
        "count": None,
        "ratio": None,
        "flag": False,
        "kind": None,
        "tags": None,
        "files": None,
    }


def test_bind_accepts_positional_params_in_declaration_order() -> None:
    assert METHOD.bind(["x", 3])["count"] == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing required parameter 'name'"),
        ({"name": "x", "bogus": 1}, "unknown parameter 'bogus'"),
        ({"name": 5}, "parameter 'name' must be of type string, not integer"),
        ({"name": "toolong"}, "parameter 'name' is longer than 5"),
        ({"name": "x", "count": True}, "parameter 'count' must be of type integer, not boolean"),
        ({"name": "x", "count": 1.5}, "parameter 'count' must be of type integer, not number"),
        ({"name": "x", "count": 0}, "parameter 'count' must be at least 1"),
        ({"name": "x", "count": 11}, "parameter 'count' must be at most 10"),
        ({"name": "x", "kind": "C"}, "parameter 'kind' must be one of A, B"),
        ({"name": "x", "tags": ["a", 1]}, "parameter 'tags[1]' must be of type string"),
        ({"name": "x", "files": [{"remoteUrl": "u"}]}, "parameter 'files[0].localPath' is required"),
        (
            {"name": "x", "files": [{"remoteUrl": "u", "localPath": "p", "x": 1}]},
            "parameter 'files[0]' has unknown field 'x'",
        ),
        ({"name": "x", "files": ["u"]}, "parameter 'files[0]' must be of type object, not string"),
        (["a", 1, 2, 3, 4, 5, 6, 7], "takes at most 7 positional parameters"),
        ("x", "params must be an object or an array"),
        ({"name": "\ud800"}, "parameter 'name' is not valid Unicode text"),
        (
            {"name": "x", "files": [{"remoteUrl": "\udfff"}]},
            "parameter 'files[0].remoteUrl' is not valid Unicode",
        ),
        ({"name": "x", "files": [{"\ud800": 1}]}, "parameter 'files[0]' has a field name that is not valid"),
        ({"name": "x", "ratio": float("nan")}, "parameter 'ratio' must be a finite number, not nan"),
        ({"name": "x", "ratio": float("-inf")}, "parameter 'ratio' must be a finite number, not -inf"),
        ({"name": "x", "count": 2**63}, "parameter 'count' is out of range"),
        ({"name": "x", "kind": "C" * 10**6}, r"got 'CCC.*\.\.\. \(1000000 characters\)$"),
    ],
)
def test_bind_names_the_bad_parameter(params: Any, message: str) -> None:
    with pytest.raises(ParamError, match=message.replace("[", r"\[").replace("]", r"\]")):
        METHOD.bind(params)


def test_number_accepts_integers() -> None:
    assert METHOD.bind({"name": "x", "ratio": 2})["ratio"] == 2


def test_snake_case() -> None:
    assert snake_case("urlGroup") == "url_group"
    assert snake_case("maxUrlGroups") == "max_url_groups"
    assert snake_case("jobId") == "job_id"


def test_registry_declares_the_design_contract() -> None:
    names = set(load_registry().names())
    expected = {
        "server.status",
        "server.stop",
        "server.set",
        "config.export",
        "config.import",
        "rpc.describe",
        "urlgroup.create",
        "urlgroup.list",
        "urlgroup.get",
        "urlgroup.set",
        "urlgroup.delete",
        "url.create",
        "url.list",
        "url.delete",
        "job.create",
        "job.addFile",
        "job.list",
        "job.get",
        "job.set",
        "job.suspend",
        "job.resume",
        "job.complete",
        "job.cancel",
        "job.wait",
    }
    assert expected <= names


def test_every_method_and_param_is_documented_and_typed() -> None:
    for method in load_registry():
        assert method.summary and method.result, method.name
        assert method.cmdlet or method.name == "rpc.describe", method.name
        for p in method.params:
            assert p.doc and p.type in {"string", "integer", "number", "boolean", "array", "object"}, (
                method.name,
                p.name,
            )


DIRECTORY = Param(
    "ldap",
    "object",
    "d",
    fields=(Param("url", "string", "u", required=True), Param("baseDn", "string", "b")),
    empty_removes=True,
)


def test_an_empty_removes_object_takes_an_empty_object_and_otherwise_its_required_fields() -> None:
    method = Method("t.o", "test", (DIRECTORY,), "null", "Test-Bcs", lambda ctx, **kw: kw)
    assert method.bind({"ldap": {}}) == {"ldap": {}}
    assert method.bind({"ldap": {"url": "ldaps://dc"}}) == {"ldap": {"url": "ldaps://dc", "baseDn": None}}
    assert method.bind({}) == {"ldap": None}, "null or absent: not given, as for every parameter"
    for given, message in (
        ({"baseDn": "DC=x"}, "parameter 'ldap.url' is required"),
        ({"url": None}, "parameter 'ldap.url' is required"),
        ({"bogus": 1}, "parameter 'ldap' has unknown field 'bogus'"),
    ):
        with pytest.raises(ParamError, match=re.escape(message)):
            method.bind({"ldap": given})
    assert DIRECTORY.describe()["emptyRemoves"] is True
    assert "emptyRemoves" not in FILES.describe()
    with pytest.raises(ValueError, match="only an object parameter"):
        Param("name", "string", "n", empty_removes=True)


def test_auth_set_declares_that_an_empty_ldap_object_removes_the_directory() -> None:
    method = load_registry().get("auth.set")
    assert method is not None
    (ldap,) = [p for p in method.describe()["params"] if p["name"] == "ldap"]
    assert ldap["emptyRemoves"] is True
    assert [f["name"] for f in ldap["fields"] if f["required"]] == ["url", "bindUser"]
    assert method.bind({"ldap": {}})["ldap"] == {}
