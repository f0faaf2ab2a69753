"""Shared primitives every layer may import: the clock, durations, distances on the globe.

Nothing here imports the rest of adwatch, so ``nlp/``, ``index/``, ``geo/`` and the
pipelines can all use it without import cycles.
"""
