"""JSON as Appwrite's PHP writes it with `json_encode` and default flags."""

from __future__ import annotations

import json
from typing import Any


def php_json(value: Any) -> str:
    """`value` as `json_encode` writes it: compact, `\\/` and `\\uXXXX` escapes, and an empty
    object as `[]` (PHP cannot tell an empty map from an empty list)."""
    return json.dumps(_php_array(value), separators=(",", ":")).replace("/", "\\/")


def _php_array(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _php_array(item) for key, item in value.items()} if value else []
    if isinstance(value, list):
        return [_php_array(item) for item in value]
    return value
