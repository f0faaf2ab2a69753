"""adwatch: watch online sex-service ads for signs of exploitation and trafficking."""

from __future__ import annotations

__version__ = "0.1.0"
