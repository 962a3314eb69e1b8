"""The files a person writes: the config (one TOML file) and the policy it names.

The config is looked up as `--config PATH`, else `$CLORE_HOST_CONFIG`, else
/etc/clore-host/config.toml. Relative paths inside it are resolved against the file's own
directory, and `$CLORE_API_URL` overrides the API's address, so tests and operators can point
a config elsewhere.
"""

from .load import load_config, load_policy, load_toml
from .model import (
    AgentSection,
    ApiSection,
    Config,
    GpuSection,
    HistorySection,
    MetricsSection,
    PolicySection,
    ServerSection,
    StateSection,
    WebhookSection,
)
from .paths import (
    DEFAULT_API_URL,
    DEFAULT_CONFIG_PATH,
    api_base_url,
    config_path,
    resolve_shipped,
    shipped_dir,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CONFIG_PATH",
    "AgentSection",
    "ApiSection",
    "Config",
    "GpuSection",
    "HistorySection",
    "MetricsSection",
    "PolicySection",
    "ServerSection",
    "StateSection",
    "WebhookSection",
    "api_base_url",
    "config_path",
    "load_config",
    "load_policy",
    "load_toml",
    "resolve_shipped",
    "shipped_dir",
]
