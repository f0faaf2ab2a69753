"""Browser-rendered sources (kind ``browser``): headless Chromium through scrapy-playwright.

``spider.py`` marks the requests that need the browser; ``handler.py`` is the download
handler that renders them (time limits, restarts, memory, blocked resources); ``interact.py``
is what is done on a page once it loaded (wait, scroll, "load more", click to reveal);
``chromium.py`` finds the system Chromium.
"""
