"""config.yaml text: dump a model, load and validate text with the line of the bad setting."""

from __future__ import annotations

from typing import Any

import yaml

from bcs.config.model import Config, ConfigError, HugeInteger

__all__ = ["dump_yaml", "load_yaml"]


_HEADER = (
    "# BITS Compact Server configuration, written by the engine after every change.\n"
    "# Change it with the cmdlets or `bcs`; edit by hand only while the engine is stopped.\n"
)


# libyaml's C loader and dumper where present: much faster on configurations of thousands of URLs.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _construct_int(loader: Any, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_int(node)
    except ValueError:
        return HugeInteger(len(str(node.value)))


_Loader: Any = type("_Loader", (_BaseLoader,), {})
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def dump_yaml(config: Config) -> str:
    body = yaml.dump(
        config.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return _HEADER + body


def _node_line(root: yaml.Node | None, path: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the YAML node at ``path`` (or of its closest existing parent)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in path:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    nxt = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def load_yaml(text: str) -> Config:
    """Parse and validate config.yaml text.

    Raises:
        ConfigError: with the line of the problem.
    """
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML syntax error: {exc.problem or exc.context}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}") from None
    if data is None:
        data = {}
    try:
        return Config.from_dict(data)
    except ConfigError as exc:
        # Only a bad file pays for the node tree that gives the line of the bad setting.
        root = yaml.compose(text, Loader=_Loader)
        detail = str(exc).split(": ", 1)[1] if exc.path else str(exc)
        raise ConfigError(detail, exc.path, _node_line(root, exc.path)) from None
