"""Retention (issue 15): how long each class of data is kept, legal holds, and the purge.

- ``policy.py``: the ``ADWATCH_RETAIN_*`` settings → one cut-off time per data class.
- ``holds.py``: what the active legal holds keep (ads, numbers), and what a new hold covers.
- ``purge.py``: the plan (what expired, less what is held) and its execution, in an order that a
  crash cannot turn into loss of unexpired data; ``adwatch/evidence/prune.py`` does the archive.
"""
