"""The stack configuration: every `kubeport:*` key, read once into a typed, validated `Settings`.

- `keys`: the keys every stack shares, and `all_keys()` with each target's own (declared in its module);
- `reader`: raw strings -> typed values, every problem collected;
- `settings`: the `Settings` model and `ConfigError`;
- `rules`: `parse()` and the rules between the shared keys; each target adds its own (`stacks.<target>.check`).
`parse()` is pure: same strings in, same settings (or the same problems) out.
"""

from stacks.config.keys import (
    CLOUD_TARGETS,
    CLUSTER_TARGETS,
    LOCAL_TARGETS,
    NAMESPACE,
    TARGETS,
    Key,
    Target,
    all_keys,
    full,
    qualified,
)
from stacks.config.reader import Reader
from stacks.config.rules import parse
from stacks.config.settings import CloudSettings, ConfigError, DatabaseSettings, Needs, SecretValue, Settings

__all__ = [
    "CLOUD_TARGETS",
    "CLUSTER_TARGETS",
    "LOCAL_TARGETS",
    "NAMESPACE",
    "TARGETS",
    "CloudSettings",
    "ConfigError",
    "DatabaseSettings",
    "Key",
    "Needs",
    "Reader",
    "SecretValue",
    "Settings",
    "Target",
    "all_keys",
    "full",
    "parse",
    "qualified",
]
