"""Alert rules and notifiers: new numbers near highways or in watched towns, numbers that travel.

The rules run on every batch of ads a crawl stores (``alerts/extension.py``, on the store
pipeline's ``ads_written`` signal; ``alerts/realtime.py``), on spooled batches when
``adwatch index flush`` writes them, and over a past period with ``adwatch alerts evaluate``.
Alerts are stored once per key and delivered to their channels (``alerts/delivery.py``).
"""

from __future__ import annotations
