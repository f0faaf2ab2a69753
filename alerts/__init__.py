"""Alert rules and notifiers (see the alerts issue); nothing fires yet."""

from __future__ import annotations
