"""Configuration keys whose values must never be written, sent or printed (declared `secret`
beside the key in arguments.py) and the environment variables that hold such values."""
import os
from typing import Any, Dict, FrozenSet, List

SECRET_ENVIRONMENT = ('NEPTUNE_API_TOKEN', 'WANDB_API_KEY')
REDACTED = '<redacted>'


def secret_keys() -> FrozenSet[str]:
    # imported here: arguments.py imports the backbone registry, which imports utils
    from arguments import secret_keys as declared_secret_keys
    return declared_secret_keys()


def redact(args: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of `args` with every set secret replaced by '<redacted>' (empty ones stay empty)."""
    secrets = secret_keys()
    return {key: (REDACTED if key in secrets and value else value) for key, value in args.items()}


def secret_values(*configs: Dict[str, Any]) -> List[str]:
    """Every non-empty secret in `configs` (e.g. the run's arguments and arguments.py's
    defaults, where a user may have typed a token) and in the environment: the strings a
    copy of the source must not hold."""
    values = [config.get(key) for config in configs for key in secret_keys()] + \
        [os.environ.get(name) for name in SECRET_ENVIRONMENT]
    return sorted({value for value in values if isinstance(value, str) and value}, key=len, reverse=True)


def redact_text(text: str, secrets: List[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
