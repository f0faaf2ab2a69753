"""Text → facts. ``extract`` is the only entry point the pipelines use."""

from __future__ import annotations

from nlp.extract import extract

__all__ = ["extract"]
