"""The secret store (secrets.json) and how the configuration refers to it: secrets never reach
config.yaml or ``to_dict``, only whether one is set; the store holds exactly what the config names."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bcs.config import Config, ConfigError, ConfigStore, SslCertificateConfig, dump_yaml, load_yaml
from bcs.config.secrets import SecretStore


def binding(port: int, password: str = "") -> SslCertificateConfig:
    return SslCertificateConfig(
        port=port,
        certificate_path="/etc/bcs/server.crt",
        key_path="/etc/bcs/server.key",
        key_password=password,
    )


def test_the_store_writes_a_0600_file_and_keeps_values_across_loads(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    store = SecretStore(path)
    store.load()
    assert store.values() == {} and not path.exists()
    store.put({"sslcert:443:keyPassword": "one", "auth:ldap:bindPassword": "two"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.retain({"auth:ldap:bindPassword"})
    again = SecretStore(path)
    again.load()
    assert (
        again.values() == {"auth:ldap:bindPassword": "two"} and again.get("sslcert:443:keyPassword") is None
    )
    assert json.loads(path.read_text()) == {
        "version": 1,
        "protection": "none",
        "secrets": {"auth:ldap:bindPassword": "two"},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]  # no temporary file left


def test_a_store_file_readable_by_others_is_made_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"version": 1, "protection": "none", "secrets": {"a": "b"}}))
    os.chmod(path, 0o644)
    store = SecretStore(path)
    store.load()
    assert store.get("a") == "b" and stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not JSON"),
        ('{"version": 2, "protection": "none", "secrets": {}}', "not a version 1 secret store"),
        ('{"version": 1, "protection": "dpapi", "secrets": {}}', "which this platform cannot read"),
        ('{"version": 1, "protection": "none", "secrets": {"a": 1}}', "must map names to strings"),
    ],
)
def test_a_store_file_that_does_not_load_is_a_clear_error_and_stays(
    tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        SecretStore(path).load()
    assert words in info.value.message and str(path) in info.value.message
    assert path.read_text() == text


def test_a_secret_is_never_in_config_yaml_or_to_dict_only_whether_it_is_set() -> None:
    config = Config(ssl_certificates=[binding(443, "hunter2"), binding(8443)])
    config.validate()
    assert repr(config).count("hunter2") == 0
    text = dump_yaml(config)
    assert "hunter2" not in text and "hunter2" not in json.dumps(config.to_dict())
    assert [b["keyPasswordSet"] for b in config.to_dict()["sslCertificates"]] == [True, False]
    assert config.secrets() == {"sslcert:443:keyPassword": "hunter2"}
    loaded = load_yaml(text)
    assert loaded.ssl_certificates[0].key_password == "" and loaded.ssl_certificates[0].key_password_set
    assert loaded.fill_secrets({"sslcert:443:keyPassword": "hunter2"}.get) == []
    assert loaded.secrets() == config.secrets()
    assert load_yaml(text).fill_secrets({}.get) == ["sslcert:443:keyPassword"]


def test_a_password_given_in_yaml_is_taken_and_marks_itself_set() -> None:
    text = (
        "version: 1\nsslCertificates:\n- port: 443\n  certificatePath: /c.pem\n  keyPath: /k.pem\n"
        "  keyPassword: s3cret\n"
    )
    config = load_yaml(text)
    assert config.ssl_certificates[0].key_password_set is True
    assert "s3cret" not in dump_yaml(config)


def test_the_config_store_keeps_exactly_the_secrets_the_config_refers_to(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.yaml")
    store.load()
    store.update(lambda c: c.ssl_certificates.extend([binding(443, "one"), binding(8443, "two")]))
    secrets = tmp_path / "secrets.json"
    assert json.loads(secrets.read_text())["secrets"] == {
        "sslcert:443:keyPassword": "one",
        "sslcert:8443:keyPassword": "two",
    }
    assert "one" not in (tmp_path / "config.yaml").read_text()
    reopened = ConfigStore(tmp_path / "config.yaml")
    reopened.load()
    assert [b.key_password for b in reopened.current.ssl_certificates] == ["one", "two"]

    def drop_443(config: Config) -> None:
        config.ssl_certificates = [b for b in config.ssl_certificates if b.port != 443]

    reopened.update(drop_443)
    assert json.loads(secrets.read_text())["secrets"] == {"sslcert:8443:keyPassword": "two"}


def test_a_failed_config_write_puts_the_previous_secrets_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # config.yaml's write fails as on a full disk (root writes through any mode, so the failure is
    # made here); secrets.json, written before it, must be put back.
    import bcs.config.store as store_module

    store = ConfigStore(tmp_path / "config.yaml")
    store.load()
    store.update(lambda c: c.ssl_certificates.append(binding(443, "old")))

    def failing_write(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "write_atomic", failing_write)

    def rebind(config: Config) -> None:
        config.ssl_certificates = [binding(443, "new")]

    with pytest.raises(OSError):
        store.update(rebind)
    assert json.loads((tmp_path / "secrets.json").read_text())["secrets"] == {
        "sslcert:443:keyPassword": "old"
    }
    assert store.current.ssl_certificates[0].key_password == "old"
