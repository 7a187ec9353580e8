"""The engine's settings: the model, config.yaml text and the store (see each module).

``model`` holds the typed settings and their validation, ``yamlio`` the config.yaml text,
``store`` the current configuration with its live listeners and durable writes.
"""

from bcs.config.model import (
    ACCESS_LOG_FORMATS,
    AUTH_SCHEMES,
    CONFIG_VERSION,
    NOTIFICATION_TYPES,
    AuthConfig,
    ClientConfig,
    Config,
    ConfigError,
    LdapConfig,
    PrincipalConfig,
    ServerConfig,
    SslCertificateConfig,
    UrlConfig,
    UrlGroupConfig,
    authentication_warning,
    check_source_path,
    check_url_suffix,
    group_setting_problem,
    tls_only_scheme_problem,
)
from bcs.config.store import ConfigStore, Listener
from bcs.config.yamlio import dump_yaml, load_yaml

__all__ = [
    "ACCESS_LOG_FORMATS",
    "AUTH_SCHEMES",
    "CONFIG_VERSION",
    "NOTIFICATION_TYPES",
    "AuthConfig",
    "ClientConfig",
    "Config",
    "ConfigError",
    "ConfigStore",
    "LdapConfig",
    "Listener",
    "PrincipalConfig",
    "ServerConfig",
    "SslCertificateConfig",
    "UrlConfig",
    "UrlGroupConfig",
    "authentication_warning",
    "check_source_path",
    "check_url_suffix",
    "dump_yaml",
    "group_setting_problem",
    "load_yaml",
    "tls_only_scheme_problem",
]
