"""Evidence: what a crawl fetched, archived as WARC, and how an ad points to it.

- ``refs.py``: the reference an ad carries to its records, and where the archive lives;
- the archive writer and the crawl's middlewares (pages → WARC records → the ad's refs);
- case export (WACZ) and verification; the archive's part of ``adwatch purge``.
"""
