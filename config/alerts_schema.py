"""``config/alerts.yaml``: alert rules and the channels alerts go to. Validated like the source files.

    new_numbers:
      baseline_first_crawl: true    # a source's first crawl registers numbers without alerting
      lookback_days: 365            # a number unseen this long counts as new again (null: never)
    rules:
      e4-corridor:
        type: new_number_near_highway
        max_km: 5
        roads: [E4, E6]             # optional; also towns, counties, min_score
      travelling:
        type: number_moves_along_highway
        min_towns: 3
        within_days: 14
        max_km: 10
      watched-towns:
        type: new_number_in_town
        towns: [Jönköping, Skövde]
      saved-searches:
        type: saved_search          # the analysts' saved searches, on every written batch; optional min_score
    channels:
      log: {type: log}
      file: {type: file, path: alerts.jsonl}            # inside ADWATCH_HOME (relative: relative to it)
      soc: {type: webhook, url: "https://…", secret_file: /etc/adwatch/webhook.secret}
      # webhooks: no link-local/metadata ever, no loopback/private/http:// unless allowed,
      # no credentials in the URL (authorization_file): alerts/channel_policy.py
      desk: {type: email, host: smtp.example.org, port: 587, starttls: true, sender: …, to: [...]}

``load_alerts`` never raises: it returns the config of the good entries and one
``SourceProblem`` (file, field, reason) per problem; a bad rule or channel is left out,
the rest work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alerts.channel_policy import WebhookPolicy, path_refusal, url_refusal
from config.source_schema import SourceProblem, read_yaml
from geo.gazetteer import fold


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    enabled: bool = True
    channels: list[str] | None = None  # None: every channel


class NewNumberNearHighway(_Rule):
    type: Literal["new_number_near_highway"]
    max_km: float = Field(default=10.0, gt=0, le=500)
    roads: list[str] = []
    towns: list[str] = []
    counties: list[str] = []
    min_score: float = Field(default=0.0, ge=0)


class NumberMovesAlongHighway(_Rule):
    type: Literal["number_moves_along_highway"]
    min_towns: int = Field(default=3, ge=2, le=50)
    within_days: float = Field(default=14, gt=0, le=366)
    max_km: float = Field(default=10.0, gt=0, le=500)
    roads: list[str] = []


class NewNumberInTown(_Rule):
    type: Literal["new_number_in_town"]
    towns: list[str] = Field(min_length=1)
    min_score: float = Field(default=0.0, ge=0)


class SavedSearch(_Rule):
    """Every saved search of the store (the web UI's "save this search"), checked against each
    written batch: one alert per search and matching ad."""

    type: Literal["saved_search"]
    min_score: float = Field(default=0.0, ge=0)


AnyRule = NewNumberNearHighway | NumberMovesAlongHighway | NewNumberInTown | SavedSearch
Rule = Annotated[AnyRule, Field(discriminator="type")]


class LogChannel(_Strict):
    type: Literal["log"]


class FileChannel(_Strict):
    type: Literal["file"]
    path: str = "alerts.jsonl"      # inside ADWATCH_HOME (relative: relative to it); checked again with it

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        reason = path_refusal(value)
        if reason:
            raise ValueError(reason)
        return value


class WebhookChannel(_Strict):
    type: Literal["webhook"]
    # Declared before url: its check reads them (alerts/channel_policy.py says what each allows).
    allow_http: bool = False        # plain http:// (a receiver on this machine or a test)
    allow_private: bool = False     # RFC 1918 / fc00::/7 receivers on your own network
    allow_loopback: bool = False    # a receiver on this machine
    url: str
    authorization_file: str | None = None  # its one line is sent as the Authorization header (mode 0600)
    secret: str | None = None       # prefer secret_file: a config file is often readable by many
    secret_file: str | None = None  # the HMAC signing secret (mode 0600)
    timeout: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=3, ge=0, le=10)
    backoff: float = Field(default=1.0, ge=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        policy = WebhookPolicy(**{k: bool(info.data.get(k)) for k in ("allow_http", "allow_private",
                                                                        "allow_loopback")})
        reason = url_refusal(value, policy)
        if reason:
            raise ValueError(f"refused: {reason}")  # never the URL itself: it may hold a credential
        return value

    def policy(self) -> WebhookPolicy:
        return WebhookPolicy(allow_http=self.allow_http, allow_private=self.allow_private,
                             allow_loopback=self.allow_loopback)

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookChannel:
        if self.secret and self.secret_file:
            raise ValueError("give secret or secret_file, not both")
        return self


class EmailChannel(_Strict):
    type: Literal["email"]
    host: str
    port: int = Field(default=25, gt=0, lt=65536)
    starttls: bool = False          # upgrade the connection (port 587)
    ssl: bool = False               # TLS from the start (port 465)
    username: str | None = None
    password_file: str | None = None
    sender: str
    to: list[str] = Field(min_length=1)
    timeout: float = Field(default=10.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)
    backoff: float = Field(default=1.0, ge=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _tls_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("ssl") and "port" not in data:
            return data | {"port": 465}
        return data

    @model_validator(mode="after")
    def _safe_login(self) -> EmailChannel:
        if self.starttls and self.ssl:
            raise ValueError("give starttls or ssl, not both")
        if self.username and not self.password_file:
            raise ValueError("username needs password_file")
        if self.username and not (self.starttls or self.ssl):
            raise ValueError("a login needs starttls or ssl: the password would cross the network in clear")
        return self

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


Channel = Annotated[LogChannel | FileChannel | WebhookChannel | EmailChannel, Field(discriminator="type")]


class NewNumbers(_Strict):
    baseline_first_crawl: bool = True
    lookback_days: float | None = Field(default=None, gt=0)


class AlertsConfig(_Strict):
    new_numbers: NewNumbers = NewNumbers()
    rules: dict[str, Rule] = {}
    channels: dict[str, Channel] = {}

    def active_rules(self) -> dict[str, AnyRule]:
        return {name: rule for name, rule in self.rules.items() if rule.enabled}

    def channels_of(self, rule: str) -> list[str]:
        wanted = self.rules[rule].channels
        return sorted(self.channels) if wanted is None else [c for c in wanted if c in self.channels]


_RULE: TypeAdapter[Any] = TypeAdapter(Rule)
_CHANNEL: TypeAdapter[Any] = TypeAdapter(Channel)


def _problems(file: str, prefix: list[str], exc: ValidationError) -> list[SourceProblem]:
    out = []
    for err in exc.errors():
        # Drop the union tag pydantic puts in the path ("new_number_in_town") — it is not a field.
        loc = [str(p) for p in err["loc"]]
        if len(loc) > 0 and loc[0] in _TAGS:
            loc = loc[1:]
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["type"]
            expected = err.get("ctx", {}).get("expected_tags") or ", ".join(sorted(_TAGS))
            reason = f"{'unknown' if err['type'] == 'union_tag_invalid' else 'missing'}: one of {expected}"
        out.append(SourceProblem(file, ".".join(prefix + loc) or "(file)", reason))
    return out


_TAGS = {"new_number_near_highway", "number_moves_along_highway", "new_number_in_town", "saved_search", "log",
         "file", "webhook", "email"}


def _known(values: list[str], known: set[str] | None, what: str, folded: bool = False) -> str | None:
    if known is None:
        return None
    missing = [v for v in values if (fold(v) if folded else v) not in known]
    return f"no such {what}: {', '.join(missing)}" if missing else None


def load_alerts(path: str | Path, *, roads: set[str] | None = None, towns: set[str] | None = None,
                counties: set[str] | None = None) -> tuple[AlertsConfig, list[SourceProblem]]:
    """Read and check the file; ``roads``/``towns``/``counties`` (when given) are the names
    rules may use, so a typo in a town is an error now, not a rule that never fires. Towns
    and counties compare folded ("jonkoping" is Jönköping), as the rules do."""
    towns = {fold(t) for t in towns} if towns is not None else None
    counties = {fold(c) for c in counties} if counties is not None else None
    file = Path(path)
    name = str(file)
    raw, problem = read_yaml(file)
    if problem is not None:
        return AlertsConfig(), [problem]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return AlertsConfig(), [SourceProblem(name, "(file)", "must be a mapping with 'rules' and 'channels'")]
    problems: list[SourceProblem] = []
    unknown = set(raw) - {"new_numbers", "rules", "channels"}
    problems += [SourceProblem(name, key, "unknown section (new_numbers, rules, channels)") for key in sorted(unknown)]

    new_numbers = NewNumbers()
    try:
        new_numbers = NewNumbers.model_validate(raw.get("new_numbers") or {})
    except ValidationError as exc:
        problems += _problems(name, ["new_numbers"], exc)

    channels: dict[str, Any] = {}
    for key, entry in _section(raw, "channels", name, problems).items():
        try:
            channels[str(key)] = _CHANNEL.validate_python(entry or {})
        except ValidationError as exc:
            problems += _problems(name, ["channels", str(key)], exc)

    rules: dict[str, Any] = {}
    for key, entry in _section(raw, "rules", name, problems).items():
        where = f"rules.{key}"
        try:
            rule = _RULE.validate_python(entry or {})
        except ValidationError as exc:
            problems += _problems(name, ["rules", str(key)], exc)
            continue
        checks = [("roads", _known(getattr(rule, "roads", []), roads, "road")),
                  ("towns", _known(getattr(rule, "towns", []), towns, "town in the gazetteer", folded=True)),
                  ("counties", _known(getattr(rule, "counties", []), counties, "county", folded=True)),
                  ("channels", _known(rule.channels or [], set(channels), "channel"))]
        bad = [(field, reason) for field, reason in checks if reason]
        if bad:
            problems += [SourceProblem(name, f"{where}.{field}", reason) for field, reason in bad]
            continue
        rules[str(key)] = rule
    return AlertsConfig(new_numbers=new_numbers, rules=rules, channels=channels), problems


def _section(raw: dict[str, Any], key: str, file: str, problems: list[SourceProblem]) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        problems.append(SourceProblem(file, key, "must map names to entries"))
        return {}
    return value
