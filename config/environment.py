"""The one place adwatch reads the environment: ADWATCH_* variables over the declared settings.

``config/settings.py`` declares every setting with its default and reads nothing. A
deployment changes a few of them without editing that file: a data folder, a cluster, a
region. The variables allowed are the table ``ENVIRONMENT`` below, each with the
conversion its value needs; a bad value stops the program with one line naming the
variable, the value and the reason.

Both ways in apply the same table: the adwatch CLI (``adwatch/settings.py``) and plain
``scrapy crawl SOURCE``, which loads ``config.settings`` through ``scrapy.cfg`` and gets
the variables from ``EnvironmentAddon`` (enabled in ``ADDONS``). Precedence, lowest
first: the declared default, then the environment, then the command line
(``-s NAME=VALUE``, ``--store``), as with Scrapy's own settings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from scrapy.settings import BaseSettings


class SettingError(ValueError):
    """A variable's value cannot be used; the message is one line: NAME='value': reason."""


def _text(raw: str) -> str:
    return raw


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return raw.rstrip("/")


def _count(least: int) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
        if value < least:
            raise ValueError(f"expected {least} or more")
        return value

    return convert


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected on or off (1/0, true/false, yes/no)")


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not value > 0:
        raise ValueError("expected more than 0 seconds")
    return value


def _region(raw: str) -> str:
    import phonenumbers

    region = raw.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("expected a phone region, ISO 3166 alpha-2 (e.g. SE)")
    return region


def _port(raw: str) -> int:
    value = _count(1)(raw)
    if value > 65535:
        raise ValueError("expected a TCP port, 1 to 65535")
    return value


def _duration(raw: str) -> str:
    from adwatch.core.durations import parse_duration

    if parse_duration(raw).total_seconds() <= 0:  # its ValueError says what is wrong otherwise
        raise ValueError("expected a duration longer than 0")
    return raw


def _moment(raw: str) -> str:
    from adwatch.core.clock import parse_since

    parse_since(raw)  # its ValueError says what is wrong; the setting keeps the text
    return raw


# Variable → conversion. Only these may override a declared setting of the same name.
ENVIRONMENT: dict[str, Callable[[str], Any]] = {
    "ADWATCH_HOME": _text,
    "ADWATCH_STORE": _text,  # its forms are checked where the store is opened (index/open.py)
    "ADWATCH_ES_URL": _url,
    "ADWATCH_ES_PREFIX": _text,
    "ADWATCH_ES_ANALYZER": _text,
    "ADWATCH_ES_SHARDS": _count(1),
    "ADWATCH_ES_REPLICAS": _count(0),
    "ADWATCH_ES_TIMEOUT": _seconds,
    "ADWATCH_SOURCES_DIR": _text,
    "ADWATCH_SCHEDULE": _text,
    "ADWATCH_ALERTS": _text,
    "ADWATCH_NOW": _moment,
    "ADWATCH_HIGHWAYS": _text,
    "ADWATCH_DEFAULT_REGION": _region,
    "ADWATCH_STAGE_WORKER": _switch,
    "ADWATCH_CHROMIUM_PATH": _text,
    "ADWATCH_BROWSER_SANDBOX": _switch,
    "ADWATCH_WEB_HOST": _text,
    "ADWATCH_WEB_PORT": _port,
    "ADWATCH_WEB_TLS_CERT": _text,
    "ADWATCH_WEB_TLS_KEY": _text,
    "ADWATCH_WEB_ACCOUNTS": _text,
    "ADWATCH_WEB_SESSION_TTL": _duration,
    "ADWATCH_WEB_SESSION_IDLE": _duration,
    "ADWATCH_WEB_LOGIN_ATTEMPTS": _count(1),
    "ADWATCH_WEB_LOGIN_WINDOW": _duration,
    "ADWATCH_WEB_FETCH_IMAGES": _switch,
    "ADWATCH_EVIDENCE": _switch,
    "ADWATCH_EVIDENCE_DIR": _text,
    "ADWATCH_EVIDENCE_WARC_MB": _count(1),
    "ADWATCH_RETAIN_ADS": _duration,
    "ADWATCH_RETAIN_REGISTRY": _duration,
    "ADWATCH_RETAIN_EVIDENCE": _duration,
    "ADWATCH_RETAIN_ALERTS": _duration,
    "ADWATCH_RETAIN_RUNS": _duration,
    "ADWATCH_RETAIN_AUDIT": _duration,
}
# An empty value means "not set" (``ADWATCH_HOME= adwatch …`` uses the declared default),
# except here, where empty is a value of its own: no alerts file, alerts off.
_EMPTY_IS_A_VALUE = frozenset({"ADWATCH_ALERTS"})


def overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment overrides, converted; SettingError on the first bad value."""
    env = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for name, convert in ENVIRONMENT.items():
        raw = env.get(name)
        if raw is None or (raw == "" and name not in _EMPTY_IS_A_VALUE):
            continue
        try:
            found[name] = convert(raw)
        except ValueError as exc:
            reason = " ".join(str(exc).split())  # one line, whatever the converter said
            raise SettingError(f"{name}={raw!r}: {reason}") from None
    return found


def apply_environment(settings: BaseSettings, environ: Mapping[str, str] | None = None) -> BaseSettings:
    """Put the environment's overrides into ``settings``: above the declared defaults
    (priority "project", set after the module), below the command line ("cmdline")."""
    settings.update(overrides(environ), priority="project")
    return settings


def _apply_or_exit(settings: BaseSettings) -> None:
    # Scrapy's command line does not catch errors raised while it builds the crawler process
    # or the spider loader; a traceback would bury the one line that matters.
    try:
        apply_environment(settings)
    except SettingError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(2) from None


class EnvironmentAddon:
    """Scrapy add-on: the same overrides for plain ``scrapy crawl`` / ``scrapy list``.

    ``update_pre_crawler_settings`` runs on the crawler process's settings before the
    spider loader and any crawler exist, so spiders, pipelines and the loader all see
    the overrides; ``update_settings`` covers a crawler built without a process.
    """

    @classmethod
    def update_pre_crawler_settings(cls, settings: BaseSettings) -> None:
        from adwatch.core.private import private_umask

        private_umask()  # `scrapy crawl` creates data too: 0600 / 0700, as `adwatch` does
        _apply_or_exit(settings)

    def update_settings(self, settings: BaseSettings) -> None:
        _apply_or_exit(settings)


def with_environment(settings: BaseSettings) -> BaseSettings:
    """A copy of (possibly frozen) ``settings`` with the overrides applied, for readers such as
    the spider loader that ``scrapy list`` builds without running the add-ons."""
    merged = BaseSettings()
    merged.update(settings)  # keeps each setting's priority, so the command line still wins
    _apply_or_exit(merged)
    return merged
