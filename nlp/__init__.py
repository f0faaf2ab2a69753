"""Text → facts. ``extract`` (one ad) and ``extract_many`` (a batch through ``nlp.pipe``)
are the entry points the pipelines and tools use."""

from __future__ import annotations

from nlp.extract import extract, extract_many

__all__ = ["extract", "extract_many"]
