"""Configuration keys whose values must never be written, sent or printed."""
from typing import Any, Dict

SECRET_KEYS = ('neptune_token',)
REDACTED = '<redacted>'


def redact(args: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of `args` with every set secret replaced by '<redacted>' (empty ones stay empty)."""
    return {key: (REDACTED if key in SECRET_KEYS and value else value) for key, value in args.items()}
