"""What the web server needs from the settings, read once and typed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adwatch.core.durations import parse_duration

if TYPE_CHECKING:
    from adwatch.evidence.refs import ArchivePlace


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    tls_cert: str | None = None
    tls_key: str | None = None
    region: str = "SE"
    home: Path = Path("data")
    sources_dir: str | None = None
    highways: str | None = None
    max_query_chars: int = 1_000
    max_query_terms: int = 64
    session_ttl_s: float = 12 * 3600
    session_idle_s: float = 3600
    fetch_images: bool = True
    evidence_dir: Path | None = None  # the evidence archive (ADWATCH_EVIDENCE_DIR, else ADWATCH_HOME/evidence)

    @property
    def evidence(self) -> ArchivePlace:
        from adwatch.evidence.refs import ArchivePlace

        return ArchivePlace(self.evidence_dir or self.home / "evidence")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @classmethod
    def from_settings(cls, settings: Any) -> WebConfig:
        from adwatch.evidence.refs import ArchivePlace

        cert = settings.get("ADWATCH_WEB_TLS_CERT") or None
        key = settings.get("ADWATCH_WEB_TLS_KEY") or None
        if bool(cert) != bool(key):
            raise ValueError("ADWATCH_WEB_TLS_CERT and ADWATCH_WEB_TLS_KEY: set both (HTTPS) or neither")
        return cls(
            host=str(settings.get("ADWATCH_WEB_HOST")), port=int(settings.get("ADWATCH_WEB_PORT")),
            tls_cert=cert, tls_key=key, region=str(settings.get("ADWATCH_DEFAULT_REGION")),
            home=Path(settings.get("ADWATCH_HOME")), sources_dir=settings.get("ADWATCH_SOURCES_DIR"),
            highways=settings.get("ADWATCH_HIGHWAYS") or None,
            max_query_chars=int(settings.get("ADWATCH_SEARCH_MAX_CHARS")),
            max_query_terms=int(settings.get("ADWATCH_SEARCH_MAX_TERMS")),
            session_ttl_s=parse_duration(str(settings.get("ADWATCH_WEB_SESSION_TTL"))).total_seconds(),
            session_idle_s=parse_duration(str(settings.get("ADWATCH_WEB_SESSION_IDLE"))).total_seconds(),
            fetch_images=settings.getbool("ADWATCH_WEB_FETCH_IMAGES"),
            evidence_dir=ArchivePlace.from_settings(settings).root,
        )
