"""The engine's settings: the model, config.yaml text and the store (see each module).

``model`` holds the typed settings and their validation, ``yamlio`` the config.yaml text,
``store`` the current configuration with its live listeners and durable writes.
"""

from bcs.config.model import (
    AUTH_SCHEMES,
    CONFIG_VERSION,
    NOTIFICATION_TYPES,
    ClientConfig,
    Config,
    ConfigError,
    ServerConfig,
    SslCertificateConfig,
    UrlConfig,
    UrlGroupConfig,
    check_source_path,
    check_url_suffix,
    group_setting_problem,
)
from bcs.config.store import ConfigStore, Listener
from bcs.config.yamlio import dump_yaml, load_yaml

__all__ = [
    "AUTH_SCHEMES",
    "CONFIG_VERSION",
    "NOTIFICATION_TYPES",
    "ClientConfig",
    "Config",
    "ConfigError",
    "ConfigStore",
    "Listener",
    "ServerConfig",
    "SslCertificateConfig",
    "UrlConfig",
    "UrlGroupConfig",
    "check_source_path",
    "check_url_suffix",
    "dump_yaml",
    "group_setting_problem",
    "load_yaml",
]
