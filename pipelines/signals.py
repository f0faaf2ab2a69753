"""adwatch's own Scrapy signals (Scrapy's are in ``scrapy.signals``); connect to them in an
extension's ``from_crawler`` with ``crawler.signals.connect(handler, signal=...)``."""

from __future__ import annotations

# A batch of ads is in the store (written now, replayed from the spool, or written one by one
# after a bad record). Sent by the store pipeline with send_catch_log, keyword arguments:
#   ads         the records as written (list of dicts, the Ad document)
#   new_phones  {e164: (ad id, first seen at)}: the numbers this write entered in the phone
#               registry, with the registry's first sighting (WriteOutcome.first_sightings)
# Handlers must not raise: a failure of theirs never fails the write (the alert rules spool
# their check instead, see alerts/extension.py).
ads_written = object()
