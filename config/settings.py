"""Scrapy and adwatch settings: every setting is declared here once, with its default.

It reads no environment (house rule 2): the ADWATCH_* variables that may override a
few of these settings are listed, with their conversions, in ``config/environment.py``,
which both the adwatch CLI and ``scrapy crawl`` (through ADDONS below) apply. Scrapy
loads this module through scrapy.cfg; the adwatch CLI through ``adwatch/settings.py``.
"""

from __future__ import annotations

from pathlib import Path

_CONFIG_DIR = Path(__file__).resolve().parent

BOT_NAME = "adwatch"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
SPIDER_LOADER_CLASS = "spiders.loader.SourceSpiderLoader"
# ADWATCH_* environment variables over these settings, for `scrapy crawl` as for the CLI.
ADDONS = {"config.environment.EnvironmentAddon": 0}

# --- adwatch: where things live -------------------------------------------------
# The data folder (store, evidence, logs); several worlds can live side by side.
ADWATCH_HOME = "data"
# The store: "sqlite" (file in ADWATCH_HOME), "sqlite:///path/to/file.db", or an
# Elasticsearch 8 cluster: "elasticsearch+http://127.0.0.1:9200" ("es" uses ADWATCH_ES_URL).
ADWATCH_STORE = "sqlite"
# --- adwatch: Elasticsearch store ------------------------------------------------
# The cluster "es" means (a full ADWATCH_STORE URL wins).
ADWATCH_ES_URL = "http://127.0.0.1:9200"
# Index names start with this: adwatch-ads (alias) → adwatch-ads-v1, adwatch-phones, …
ADWATCH_ES_PREFIX = "adwatch"
# Analyzer of the title/text fields; "swedish" needs the analysis-common module (full clusters).
ADWATCH_ES_ANALYZER = "standard"
# Shards and replicas of new indices: 1/0 suits one node; a cluster wants replicas ≥ 1.
ADWATCH_ES_SHARDS = 1
ADWATCH_ES_REPLICAS = 0
# Seconds before a request counts as failed (then the batch is spooled, not lost).
ADWATCH_ES_TIMEOUT = 10.0
# Folder of declarative source files (one YAML per site).
ADWATCH_SOURCES_DIR = str(_CONFIG_DIR / "sources")
# When each source is crawled by `adwatch schedule once|run` (see the file's header).
ADWATCH_SCHEDULE = str(_CONFIG_DIR / "schedule.yaml")
# Alert rules and the channels alerts go to (see the file's header); "" turns alerts off.
ADWATCH_ALERTS = str(_CONFIG_DIR / "alerts.yaml")
# Pretend it is this moment (ISO, UTC) and let the clock run on from there: for tests and
# demos that simulate days. Unset: the real clock.
ADWATCH_NOW: str | None = None
# A GeoJSON file of LineStrings (property "ref" or "name") that extends or replaces the
# built-in highways (geo/data/highways.yaml), e.g. an OpenStreetMap or NVDB export.
ADWATCH_HIGHWAYS: str | None = None
# Default phone region when a source does not say (ISO 3166 alpha-2); also the country whose
# gazetteer resolves the towns an analyst types (search --town/--near, trends).
ADWATCH_DEFAULT_REGION = "SE"
# The largest search an analyst may type (characters, and terms: each term is a full-text
# look-up); a longer one is refused with a clear error instead of taking minutes and memory.
ADWATCH_SEARCH_MAX_CHARS = 1_000
ADWATCH_SEARCH_MAX_TERMS = 64

# --- adwatch: web UI and REST API (adwatch serve) --------------------------------
# Where the server listens: loopback by default; another address exposes sensitive data, so
# serve it over TLS (both files set) or behind a TLS proxy on the same host.
ADWATCH_WEB_HOST = "127.0.0.1"
ADWATCH_WEB_PORT = 8000
# PEM certificate and key: with both set the server speaks HTTPS and cookies are Secure.
ADWATCH_WEB_TLS_CERT: str | None = None
ADWATCH_WEB_TLS_KEY: str | None = None
# Accounts, API tokens and sessions (SQLite, 0600); "" → ADWATCH_HOME/web/accounts.db.
ADWATCH_WEB_ACCOUNTS = ""
# A session ends this long after login, or after this long without a request (durations).
ADWATCH_WEB_SESSION_TTL = "12h"
ADWATCH_WEB_SESSION_IDLE = "1h"
# Failed logins allowed per user name and per client address within the window, then refused.
ADWATCH_WEB_LOGIN_ATTEMPTS = 5
ADWATCH_WEB_LOGIN_WINDOW = "15min"
# Show ads' photos: the server fetches them from the source's own site (its allowed_domains),
# never the analyst's browser. Off: the pages list the photos' addresses only.
ADWATCH_WEB_FETCH_IMAGES = True

# --- adwatch: evidence (adwatch/evidence/) -----------------------------------------
# Archive every page a crawl fetches (listing, detail, feed and browser pages, robots.txt) as
# WARC: the bytes as the server sent them, and for browser pages the rendered DOM too. Each ad
# points to the records it was read from. Off: nothing is archived (not for evidence work).
ADWATCH_EVIDENCE = True
# The archive's folder; "" → ADWATCH_HOME/evidence (WARC files under warc/, 0600 in 0700 folders).
ADWATCH_EVIDENCE_DIR = ""
# A crawl's WARC file is closed and a new one started past this many megabytes.
ADWATCH_EVIDENCE_WARC_MB = 100
# zlib level of each record's gzip member (1-9): zlib's default; warcio's own 9 is slower and no smaller on pages.
ADWATCH_EVIDENCE_GZIP_LEVEL = 6

# --- adwatch: retention (adwatch purge; durations as 30d, 6mo, 1y) -------------------
# How long each class of data is kept; `adwatch purge` (daily in the scheduler) removes what is
# older, except what a legal hold keeps. The reasons for these defaults are in README.md.
# Ads and their earlier versions, by when the ad was last seen (a version: by when it was replaced).
ADWATCH_RETAIN_ADS = "1y"
# Phone-registry entries that no stored ad carries any more, by when the number was last seen.
ADWATCH_RETAIN_REGISTRY = "1y"
# Archived records that no kept ad or version points to (listing pages, robots.txt), by fetch time;
# a record a kept ad points to stays as long as the ad.
ADWATCH_RETAIN_EVIDENCE = "1y"
# Alerts, by when they were raised.
ADWATCH_RETAIN_ALERTS = "1y"
# Crawl-run records (no ad content), by when the run started.
ADWATCH_RETAIN_RUNS = "2y"
# The audit log, by entry time: longer than anything it audits, so every look at data can be
# checked for years after the data is gone.
ADWATCH_RETAIN_AUDIT = "5y"

# --- adwatch: pipeline behaviour ------------------------------------------------
# Ads written to the store per transaction; a crash loses at most one unflushed batch,
# which the next crawl fetches again because it was never indexed.
ADWATCH_STORE_BATCH_SIZE = 50
# An ad missing from its listings in this many complete crawls in a row gets removed_at
# (it stays searchable; seen again, it is present again).
ADWATCH_REMOVED_AFTER = 2
# Keep at most this many characters of an ad's text; longer text is cut, not dropped.
ADWATCH_MAX_TEXT_CHARS = 20_000
# The same for every other text field (title, location, poster, phone field, date, age, price)
# and for each image URL; and at most this many images. What is cut is recorded on the ad
# (evidence.truncated: field → original length) and counted (adwatch/normalize/<field>_truncated).
ADWATCH_MAX_FIELD_CHARS = 1_000
ADWATCH_MAX_IMAGES = 100
# Run the stages that read ads (normalize's HTML → text, enrich's NLP) in a worker process
# (pipelines/worker.py), so crawling and reading use two CPU cores. Off, or on a one-core
# machine, they run in the crawl's own process.
ADWATCH_STAGE_WORKER = True

# --- adwatch: browser sources (kind: browser, spiders/browser/) --------------------
# The Chromium that renders browser sources (`make setup` installs Debian's packages);
# Playwright's own browser download is never used. Empty: Debian's chromium-headless-shell
# (/usr/lib/chromium/chromium-headless-shell), else its chromium, else either on the PATH.
ADWATCH_CHROMIUM_PATH = ""
# Chromium's sandbox, which keeps a page's code away from the machine. Chromium cannot start it
# as root, so a browser crawl as root is refused unless this is turned off: an operator's
# explicit choice (the Makefile makes it for the synthetic demo and tests when run as root).
ADWATCH_BROWSER_SANDBOX = True

# --- Scrapy: politeness and robustness ------------------------------------------
# An identifying User-Agent: site operators can see who crawls and why.
USER_AGENT = "adwatch/0.1 (+https://github.com/adwatch/adwatch; research crawler)"
# robots.txt is obeyed by default; a source file can only override this explicitly.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# Scrapy starts this many tasks for the output of every response; a page yields a few
# dozen requests and items at most, and the pipelines are synchronous, so 100 is waste.
CONCURRENT_ITEMS = 8
DOWNLOAD_DELAY = 0.25
DOWNLOAD_TIMEOUT = 30
# Pages above this size are aborted by Scrapy itself; smaller giants are parsed, their text cut.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
# Retry 5xx and 429 a few times; AutoThrottle backs off when the site slows down.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# The spider's errback logs each failed URL once, naming the source; Scrapy's own line would repeat it.
RETRY_GIVE_UP_LOG_LEVEL = "DEBUG"
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0
# Honour Retry-After and back off on 429/503; above RetryMiddleware (550) so it sees them first.
# Below HttpCompressionMiddleware (590), so the nesting guard reads the unpacked page.
DOWNLOADER_MIDDLEWARES = {"spiders.backoff.BackoffMiddleware": 560, "spiders.deep_nesting.DeepNestingMiddleware": 580,
                          # Archives every answer as it came off the wire (adwatch/evidence/capture.py):
                          # above HttpCompression (590) and Redirect (600), so bodies are still compressed.
                          "adwatch.evidence.capture.EvidenceCapture": 950}
ADWATCH_BACKOFF_BASE = 1.0  # seconds of extra delay after the first 429/503
ADWATCH_BACKOFF_MAX = 60.0  # ceiling for the extra delay
# Known ads are not fetched again, paging stops at a page of known ads (spiders/incremental.py).
# Each Ad carries the WARC records of the page it was read from (adwatch/evidence/capture.py).
SPIDER_MIDDLEWARES = {"spiders.incremental.IncrementalMiddleware": 950, "adwatch.evidence.capture.EvidenceStamp": 900}

ITEM_PIPELINES = {
    "pipelines.normalize.NormalizePipeline": 100,
    "pipelines.dedupe.DedupePipeline": 200,
    "pipelines.enrich.EnrichPipeline": 300,
    "pipelines.store.StorePipeline": 800,
}
# The source lock (adwatch/crawl_lock.py) must come before the crawl-run recorder.
EXTENSIONS = {"adwatch.crawl_lock.SourceLock": 100, "pipelines.crawlrun.CrawlRunRecorder": 500,
              "adwatch.progress.ProgressReporter": 510,
              # Alert rules on each batch written; before 500, so its stats reach the crawl run.
              "alerts.extension.AlertsExtension": 490, "adwatch.crawl_gc.FreezeLoadedData": 520}
# Freeze the objects loaded before the spider opens so GC passes skip them (adwatch/crawl_gc.py).
ADWATCH_GC_FREEZE = True
# Seconds between progress lines on a terminal (0 turns them off; never shown when piped).
ADWATCH_PROGRESS_INTERVAL = 5.0

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
TELNETCONSOLE_ENABLED = False
# Scrapy's remote-control server runs Python sent over HTTP inside the crawl: never on
# unless an operator turns it on for one debugging session (-s REMOTE_CONTROL_ENABLED=True).
REMOTE_CONTROL_ENABLED = False
