"""The one name for a decoded JSON object, shared by every package that passes API objects around."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
"""A decoded JSON object (a Kubernetes object or a part of one), as `json.loads` returns it."""
