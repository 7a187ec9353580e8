"""config.yaml: validation with line numbers, atomic persistence, live import, crash safety."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bcs.config import Config, ConfigError, ConfigStore, dump_yaml, load_yaml
from bcs.rpc.client import RpcError
from conftest import EngineProcess

GOOD = """\
version: 1
server:
  maxUrlGroups: 40
urlGroups:
  - urlGroup: HTTP://+:8080/Demo
    connectionLimit: 5
    urls:
      - urlSuffix: /a.txt
        sourcePath: /srv/a.txt
"""


def test_load_normalises_prefix_and_suffix_and_fills_defaults() -> None:
    config = load_yaml(GOOD)
    group = config.url_groups[0]
    assert group.url_group == "http://+:8080/Demo/"
    assert group.urls[0].url_suffix == "a.txt"
    assert group.bandwidth_limit == 0 and group.authentication == []
    assert config.server.max_url_groups == 40 and config.client.background_slots == 1


def test_dump_and_load_round_trip() -> None:
    config = load_yaml(GOOD)
    assert load_yaml(dump_yaml(config)) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("connectionLimit: 5", "connectionLimit: five"),
            "line 6: urlGroups[0].connectionLimit: must be an integer, not 'five'",
        ),
        (
            GOOD.replace("connectionLimit: 5", "connectionLimit: -1"),
            "line 6: urlGroups[0].connectionLimit: must be between 0 and 1000000",
        ),
        (
            GOOD.replace("HTTP://+:8080/Demo", "http://+:8080/a/b/"),
            "line 5: urlGroups[0].urlGroup: invalid URL group 'http://+:8080/a/b/': a Compact Server URL group has exactly one path segment",
        ),
        (
            GOOD.replace("maxUrlGroups: 40", "maxUrlGroups: 40\n  colour: blue"),
            "line 4: server.colour: unknown setting",
        ),
        (
            GOOD.replace("/srv/a.txt", "relative/a.txt"),
            "line 9: urlGroups[0].urls[0].sourcePath: must be an absolute path",
        ),
        (GOOD.replace("/a.txt", "/../a.txt"), "line 8: urlGroups[0].urls[0].urlSuffix: invalid URL suffix"),
        (GOOD + "  - urlGroup: http://+:8080/demo/\n", "line 10: urlGroups[1].urlGroup: duplicate URL group"),
        (
            GOOD.replace("    connectionLimit: 5\n", "    bandwidthLimit: 100\n"),
            "line 6: urlGroups[0].bandwidthLimit: must be 0 (unlimited) or at least 1024",
        ),
        (GOOD.replace("version: 1", "version: 2"), "line 1: version: unsupported version 2"),
        ("urlGroups: [\n", "line 2: YAML syntax error"),
        ("- 1\n- 2\n", "must be a mapping"),
        (
            GOOD.replace("maxUrlGroups: 40", "maxUrlGroups: 0"),
            "line 3: server.maxUrlGroups: must be between 1 and 100000",
        ),
        (GOOD.replace("/a.txt", "/a?.txt"), "line 8: urlGroups[0].urls[0].urlSuffix: invalid URL suffix"),
        (
            GOOD.replace("maxUrlGroups: 40", "maxUrlGroups: " + "9" * 4400),
            "line 3: server.maxUrlGroups: is out of range (an integer of 4400 digits",
        ),
        (
            GOOD.replace("connectionLimit: 5", f"connectionLimit: {2**63}"),
            "line 6: urlGroups[0].connectionLimit: is out of range",
        ),
    ],
)
def test_bad_config_names_line_and_setting(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(text)
    assert message in str(info.value)
    assert info.value.to_data()["hresult"] == "0x80070057"


def test_too_many_url_groups_is_refused() -> None:
    groups = "".join(f"  - urlGroup: http://+:8080/g{i}/\n" for i in range(3))
    with pytest.raises(ConfigError, match=r"3 URL groups exceed server.maxUrlGroups \(2\)"):
        load_yaml(f"server:\n  maxUrlGroups: 2\nurlGroups:\n{groups}")


def test_update_persists_atomically_and_vetoing_listener_changes_nothing(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.yaml")
    store.load()
    store.update(lambda c: setattr(c.server, "max_url_groups", 30))
    assert load_yaml((tmp_path / "config.yaml").read_text()).server.max_url_groups == 30
    seen: list[tuple[int, int]] = []

    def ok(old: Config, new: Config) -> None:
        seen.append((old.server.max_url_groups, new.server.max_url_groups))

    def veto(old: Config, new: Config) -> None:
        if new.server.max_url_groups == 99:
            raise RuntimeError("port in use")

    store.subscribe(ok)
    store.subscribe(veto)
    with pytest.raises(RuntimeError):
        store.update(lambda c: setattr(c.server, "max_url_groups", 99))
    assert store.current.server.max_url_groups == 30
    assert seen == [(30, 99), (99, 30)]  # applied, then rolled back
    assert load_yaml((tmp_path / "config.yaml").read_text()).server.max_url_groups == 30
    assert list(tmp_path.iterdir()) == [tmp_path / "config.yaml"]


def test_invalid_update_changes_nothing(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.yaml")
    store.load()
    before = (tmp_path / "config.yaml").read_bytes()
    with pytest.raises(ConfigError):
        store.update(lambda c: setattr(c.server, "bandwidth_limit", 5))
    assert (tmp_path / "config.yaml").read_bytes() == before
    assert store.current.server.bandwidth_limit == 0


def test_missing_file_gets_the_default_written(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.yaml")
    store.load(default=lambda: load_yaml(GOOD))
    assert "http://+:8080/Demo/" in (tmp_path / "config.yaml").read_text()


# --- with a real engine --------------------------------------------------------------------------


def test_config_import_applies_persists_and_survives_restart(engine: EngineProcess) -> None:
    new = "version: 1\nserver:\n  maxUrlGroups: 77\n  accessLog: false\nclient:\n  backgroundSlots: 3\n"
    result = engine.call("config.import", yaml=new)
    assert result["config"]["server"]["maxUrlGroups"] == 77
    assert engine.call("server.status")["backgroundJobSlots"] == 3
    engine.restart()
    exported = engine.call("config.export")
    assert exported["config"]["server"] == {
        "maxUrlGroups": 77,
        "bandwidthLimit": 0,
        "accessLog": False,
        "accessLogFormat": "text",
        "metricsPort": 0,
        "metricsAddress": "127.0.0.1",
    }
    assert yaml.safe_load(exported["yaml"])["client"]["backgroundSlots"] == 3
    assert exported["path"] == str((engine.state_dir / "config.yaml").resolve())


def test_config_import_of_bad_yaml_is_refused_and_changes_nothing(engine: EngineProcess) -> None:
    before = (engine.state_dir / "config.yaml").read_bytes()
    with engine.client() as c, pytest.raises(RpcError) as info:
        c.call("config.import", yaml="server:\n  maxUrlGroups: lots\n")
    assert info.value.rpc_code == -32000
    assert info.value.data["name"] == "E_INVALIDARG"
    assert "line 2: server.maxUrlGroups: must be an integer" in info.value.message
    assert (engine.state_dir / "config.yaml").read_bytes() == before


def test_server_set_persists_across_restart(engine: EngineProcess) -> None:
    engine.call("server.set", maxUrlGroups=100, bandwidthLimit=2048, jobBandwidthLimit=4096)
    engine.restart()
    status = engine.call("server.status")
    assert (status["maxUrlGroups"], status["bandwidthLimit"], status["jobBandwidthLimit"]) == (
        100,
        2048,
        4096,
    )


def test_server_set_rejects_bandwidth_below_the_minimum(engine: EngineProcess) -> None:
    with engine.client() as c, pytest.raises(RpcError, match="at least 1024 bytes/s"):
        c.call("server.set", bandwidthLimit=1000)


def test_corrupt_config_stops_startup_with_the_line_and_keeps_the_file(engine_factory: Any) -> None:
    broken = "version: 1\nserver:\n  maxUrlGroups: 25\nurlGroups:\n  - urlGroup: http://+:8080/ok/\n    connectionLimit: [\n"
    e = engine_factory(config=broken)
    e.start(wait=False)
    assert e.proc is not None and e.proc.wait(30) == 1
    assert "config.yaml: line 7: YAML syntax error" in e.output()
    assert (e.state_dir / "config.yaml").read_text() == broken


def test_hand_broken_setting_stops_startup_naming_it(engine_factory: Any) -> None:
    e = engine_factory(config="version: 1\nurlGroups:\n  - urlGroup: http://+:80/a/b/\n")
    e.start(wait=False)
    assert e.proc is not None and e.proc.wait(30) == 1
    assert "line 3: urlGroups[0].urlGroup: invalid URL group" in e.output()


def test_first_start_writes_the_embedded_demo_config(engine_factory: Any) -> None:
    e = engine_factory(config=None)
    e.state_dir.mkdir(parents=True, exist_ok=True)
    store = ConfigStore(e.state_dir / "config.yaml")
    from bcs.engine import DEMO_URL_GROUP, demo_config

    store.load(default=lambda: demo_config(e.state_dir))
    config = load_yaml((e.state_dir / "config.yaml").read_text())
    assert config.url_groups[0].url_group == DEMO_URL_GROUP
    assert (
        Path(config.url_groups[0].urls[0].source_path)
        .read_text()
        .startswith("Hello from BITS Compact Server")
    )


def test_kill_9_during_config_import_leaves_old_or_new_file(engine_factory: Any) -> None:
    variants = {
        n: f"version: 1\nserver:\n  maxUrlGroups: {n}\nclient:\n  backgroundSlots: {n % 7 + 1}\n"
        + "# padding\n" * 2000
        for n in (31, 32)
    }
    e: EngineProcess = engine_factory(config=variants[31])
    expected = {load_yaml(v).server.max_url_groups for v in variants.values()}
    rng = random.Random(4)
    for _ in range(8):
        e.start()
        stop = threading.Event()

        def hammer(stop: threading.Event = stop) -> None:
            try:
                with e.client(timeout=5) as c:
                    n = 31
                    while not stop.is_set():
                        n = 63 - n
                        c.call("config.import", yaml=variants[n])
            except Exception:
                pass  # the engine dies under us: expected

        t = threading.Thread(target=hammer)
        t.start()
        time.sleep(rng.uniform(0.05, 0.4))
        e.kill()
        stop.set()
        t.join(10)
        text = (e.state_dir / "config.yaml").read_text()
        assert load_yaml(text).server.max_url_groups in expected
    e.start()  # and the engine starts on whatever the crash left, cleaning temporary files
    assert e.call("server.status")["maxUrlGroups"] in expected
    assert not list(e.state_dir.glob(".config.yaml.*.tmp"))
