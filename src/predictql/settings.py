"""One settings object, read from the environment (prefix ``PREDICTQL_``) once and passed in.

Every field is documented in the README's configuration table; a test keeps the two in step.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from predictql.clientip import parse_networks

log = logging.getLogger("predictql.settings")

DEV_SECRET_FILE = "jwt_secret"


class ConfigError(RuntimeError):
    """The configuration cannot be used (for example production without a JWT secret)."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PREDICTQL_", extra="ignore", frozen=True)

    environment: Literal["development", "production", "test"] = Field(
        "development", description="`production` refuses to start without JWT_SECRET."
    )
    data_dir: Path = Field(Path("data"), description="SQLite file, dev JWT secret, avatars.")
    database_url: str = Field(
        "", description="`sqlite+aiosqlite:///...` (default: DATA_DIR/predictql.db) or `postgresql+asyncpg://...`."
    )
    broadcast_url: str = Field("memory://", description="Event bus: `memory://` or `redis://host:6379/0`.")
    bus_channel_prefix: str = Field(
        "", description="Prepended to every bus channel: separates deployments that share one Redis."
    )
    bus_queue_size: int = Field(
        4096,
        ge=1,
        description="Messages a subscriber may fall behind its channel (one shared buffer per channel); "
        "past it, a snapshot or a GAP.",
    )
    bus_max_lag_seconds: float = Field(
        10.0, gt=0, description="Seconds a subscriber may fall behind its channel; past it, a snapshot or a GAP."
    )
    order_expiry_sweep_seconds: float = Field(
        1.0, gt=0, description="How often open GTD orders past their expiry are cancelled and their escrow released."
    )
    stream_retention_seconds: float = Field(
        3600.0, gt=0, description="How long the stream log keeps messages for subscribers resuming with fromSeq."
    )
    stream_heartbeat_seconds: float = Field(
        15.0, gt=0, description="How often every live stream gets a HEARTBEAT with its channel's latest seq."
    )
    debug_memory: Path | None = Field(
        None, description="Debugging soaks only: a file to which a tracemalloc and object-count census is appended."
    )
    debug_memory_seconds: float = Field(60.0, gt=0, description="Seconds between two memory censuses (DEBUG_MEMORY).")
    debug_memory_frames: int = Field(
        0, ge=0, description="With DEBUG_MEMORY: tracemalloc frames per allocation site (0: none, it is slow)."
    )
    ws_max_connections: int = Field(
        10000, ge=1, description="WebSockets per process (GraphQL and legacy feeds); more are closed with 1013."
    )
    ws_messages_per_second: float = Field(
        20.0, gt=0, description="Client messages per WebSocket per second, sustained; a flood closes it (4429)."
    )
    ws_message_burst: int = Field(
        100, ge=1, description="Client messages a WebSocket may send at once above the sustained rate."
    )
    ws_max_operations: int = Field(
        100, ge=1, description="Operations running at once on one GraphQL WebSocket; more get TOO_MANY_OPERATIONS."
    )
    ws_ping_interval_seconds: float = Field(50.0, gt=0, description="Server WebSocket ping (heartbeat) interval.")
    ws_read_deadline_seconds: float = Field(
        60.0, gt=0, description="A WebSocket with no pong this long after the last one is closed (1011)."
    )
    database_connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Connecting to PostgreSQL gives up after this (503)."
    )
    database_pool_size: int = Field(
        20,
        ge=1,
        description="PostgreSQL connections each process keeps open (as many again may open for a burst, then close).",
    )
    database_statement_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest statement or pool wait (PostgreSQL), busy wait (SQLite); past it 503."
    )
    writer_affinity: bool = Field(
        True,
        description="With `serve --workers N`: each market's writes are executed by one worker (m % N), relayed there.",
    )
    redis_url: str | None = Field(None, description="Rate-limit storage shared by all processes when set.")
    rate_limit_fail_open: bool = Field(
        True, description="Redis (the rate-limit storage) down: serve without limits, or answer 503 if false."
    )
    jwt_secret: SecretStr | None = Field(None, description="HMAC key for tokens, at least 32 bytes.")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL used in links and avatar URLs.")

    mail_outbox: Path | None = Field(
        None, description="Directory; each email is written there as an .eml file (unset: nothing is written)."
    )
    mail_from: str = Field("predictql <no-reply@localhost>", description="From header of outgoing mail.")
    smtp_host: str | None = Field(None, description="SMTP server for real delivery (in addition to the outbox).")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS.")

    fee_bps: int = Field(200, ge=0, le=10000, description="Trading fee in basis points, charged to each side.")
    rate_limit_per_minute: int = Field(600, ge=1, description="Requests per minute per IP and per user.")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated proxy addresses/CIDRs whose X-Forwarded-For/-Proto are believed.",
    )
    sign_in_free_failures_per_account: int = Field(
        5, ge=1, description="Failed sign-ins per email an hour before back-off (1 s doubling, at most 5 min)."
    )
    sign_in_free_failures_per_ip: int = Field(
        20, ge=1, description="Failed sign-ins per client IP an hour before the same back-off."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS (`*` for any)."
    )
    ws_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed to open GraphQL WebSockets."
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_json: bool = Field(True, description="One JSON object per log line.")

    graphql_introspection: bool = Field(True, description="Allow schema introspection.")
    graphql_max_depth: int = Field(12, description="Maximum query depth.")
    graphql_max_aliases: int = Field(30, description="Maximum aliases per operation.")
    graphql_max_cost: int = Field(20000, description="Maximum estimated cost (fields x page sizes).")
    graphql_max_tokens: int = Field(5000, description="Maximum tokens in a GraphQL document.")
    graphql_cache_ttl_ms: int = Field(
        1000, ge=0, description="Public query responses are shared by every caller this long (0 disables); see README."
    )

    access_token_ttl_seconds: int = Field(20 * 60, description="Access token lifetime.")
    refresh_token_ttl_seconds: int = Field(72 * 3600, description="Refresh token lifetime.")
    actor_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a resolved caller is answered from memory at most; dropped at once when its "
        'access changes (README "How sessions end"); 0: every request reads the database.',
    )
    password_hash_profile: Literal["standard", "test"] = Field(
        "standard", description="Argon2 cost: `test` is the cheapest (test runs only; refused in production)."
    )
    max_body_bytes: int = Field(1024 * 1024, description="Largest request body; larger answers 413.")
    avatar_max_bytes: int = Field(
        768 * 1024, description="Largest avatar or event image upload (below the 1 MB body limit)."
    )

    oauth_google_client_id: str | None = Field(None, description="OAuth2/OIDC client id for `/auth/google`.")
    oauth_google_client_secret: SecretStr | None = Field(None, description="OAuth2 client secret.")
    oauth_google_authorize_url: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth", description="Provider authorization endpoint."
    )
    oauth_google_token_url: str = Field("https://oauth2.googleapis.com/token", description="Token endpoint.")
    oauth_google_userinfo_url: str = Field(
        "https://openidconnect.googleapis.com/v1/userinfo", description="OIDC userinfo endpoint."
    )

    # Operations (README "Readiness and drain", "Metrics")
    drain_sockets_seconds: float = Field(
        5.0, gt=0, description="On SIGTERM, how long WebSockets get to close (1001) before in-flight requests drain."
    )
    ready_timeout_seconds: float = Field(
        2.0, gt=0, description="Each check of `/api/v1/ready` (database, Redis, migration head) gives up after this."
    )
    metrics_token: SecretStr | None = Field(
        None, description="`/metrics` needs `Authorization: Bearer <token>`; unset, `/metrics` answers 404."
    )
    tracing: bool = Field(
        False,
        description="OpenTelemetry spans, exported as the standard `OTEL_*` variables say; needs the "
        '`tracing` extra (README "Tracing").',
    )

    # Money in and out (README "Money in and out: card and crypto withdrawals")
    card_bank_name: str = Field("Sberbank", description="The platform card users pay card deposits into: bank.")
    card_number: str = Field("2202 2000 0000 0000", description="The platform card's number (shown to depositors).")
    card_holder_name: str = Field("PREDICTQL OPERATOR", description="The platform card's holder name.")
    card_min_kopecks: int = Field(10_000, gt=0, description="Smallest card order (deposit or withdraw), kopecks.")
    card_max_kopecks: int = Field(5_000_000, gt=0, description="Largest card order (deposit or withdraw), kopecks.")
    withdraw_min_deposit_kopecks: int = Field(
        100_000,
        ge=0,
        description="Money out (card, crypto, P2P sell) needs this much deposited in total first "
        "(MIN_DEPOSIT_REQUIRED).",
    )
    withdraw_wagering_multiplier: int = Field(
        3, ge=0, description="Money out needs traded volume of at least this many times all bonus ever credited."
    )
    withdraw_daily_limit_kopecks: int = Field(
        10_000_000,
        gt=0,
        description="Money out (card withdraw + crypto + P2P sells) per user per rolling 24 h, kopecks.",
    )

    # Support chat (README "Support chat")
    chat_messages_per_minute: int = Field(
        20, ge=1, description="Visitor messages per minute in one support-chat session; more answer 429."
    )
    chat_message_max_chars: int = Field(
        2000, ge=1, le=100_000, description="Longest support-chat message, in characters."
    )

    # Comments and price alerts (README "Comments", "Price alerts")
    comment_max_length: int = Field(2000, ge=1, description="Longest comment, in characters.")
    comment_edit_window_seconds: int = Field(
        900, ge=0, description="How long after posting its author may edit a comment (0: never)."
    )
    comment_rate_per_minute: int = Field(
        5, ge=1, description="Comments (replies included) one user may post per rolling minute."
    )
    alert_max_active: int = Field(20, ge=1, description="Active price alerts one user may have at once.")
    p2p_expiry_sweep_seconds: float = Field(
        1.0, gt=0, description="How often pending P2P orders past their payment window are cancelled (escrow back)."
    )

    # Asset prices, FX and loop events (README "Asset prices, FX and loop events")
    price_source: Literal["operator", "bybit"] = Field(
        "operator", description="Where asset prices come from: `operator` (CLI / admin mutation) or `bybit`."
    )
    price_symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        description="Comma-separated symbols the exchange connector follows (Bybit naming).",
    )
    bybit_ws_url: str = Field(
        "wss://stream.bybit.com/v5/public/spot", description="Bybit v5 public spot WebSocket (tickers)."
    )
    bybit_rest_url: str = Field(
        "https://api.bybit.com", description="Bybit v5 REST base URL (`/v5/market/tickers` while the socket is down)."
    )
    bybit_ping_seconds: float = Field(20.0, gt=0, description="Ping to the exchange's socket this often.")
    bybit_reconnect_max_seconds: float = Field(
        30.0, gt=0, description="Longest back-off between exchange reconnects (doubling from 1/8 of it)."
    )
    bybit_rest_poll_seconds: float = Field(
        5.0, gt=0, description="While the exchange socket is down, poll its REST tickers this often."
    )
    price_stale_seconds: float = Field(
        60.0, gt=0, description="An asset price older than this is marked stale (and cannot settle a loop round)."
    )
    price_record_seconds: float = Field(
        1.0, gt=0, description="Price history keeps at most one point per symbol per this many seconds."
    )
    fx_source: Literal["operator", "cbr"] = Field(
        "operator", description="Where FX rates come from: `operator` (CLI / admin mutation) or `cbr` (FX_URL)."
    )
    fx_url: str = Field(
        "https://www.cbr-xml-daily.ru/daily_json.js", description="Central-bank daily rates, CBR JSON format."
    )
    fx_poll_seconds: float = Field(3600.0, gt=0, description="How often the FX source is read.")
    fx_stale_seconds: float = Field(
        3 * 86400.0, gt=0, description="An FX rate older than this is marked stale (daily rates skip weekends)."
    )
    loop_tick_seconds: float = Field(
        1.0, gt=0, description="How often each process checks loop events for rounds to settle and open."
    )
    loop_minute_seconds: float = Field(
        60.0, gt=0, description="Length of one loop_interval_minutes minute in seconds (tests shorten it)."
    )
    loop_lmsr_b_kopecks: int = Field(1_000_000, ge=1000, description="LMSR liquidity of each loop round's market.")

    # Memory (README "Memory under sustained load"; predictql.allocator)
    malloc_arena_max: int = Field(
        2, ge=0, description="glibc malloc arenas at most (mallopt M_ARENA_MAX); 0: glibc's default (8 per core)."
    )
    malloc_trim_seconds: float = Field(
        10.0,
        ge=0,
        description="How often glibc is asked to return freed heap pages (malloc_trim, a few ms each); 0: never. "
        "It bounds what a burst leaves behind: memory returns within one period.",
    )
    gc_young_threshold: int = Field(
        10_000,
        ge=0,
        description="Allocations between two collections of the garbage collector's youngest generation, set "
        "after start-up (gc.set_threshold); 0: Python's default (700). Each request allocates a few hundred "
        "objects, so the default collected every few requests (~7 % of a trade's CPU, bench/RESULTS.md).",
    )
    pythonmalloc: Literal["malloc", "off"] = Field(
        "malloc",
        description="`serve` re-executes itself once with PYTHONMALLOC=malloc (glibc, reached by the trim) unless "
        "PYTHONMALLOC is set; `off`: Python's own allocator (pymalloc). Read before start-up (predictql.allocator).",
    )

    @field_validator("cors_origins", "ws_origins", "trusted_proxies", "price_symbols", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("price_symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        return [symbol.upper() for symbol in value]

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)  # a typo must fail at start-up, not silently trust nobody
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'predictql.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @cached_property
    def avatar_dir(self) -> Path:
        return self.data_dir / "avatars"

    @cached_property
    def secret_key(self) -> str:
        """The JWT key: configured, or (outside production) generated once and kept in DATA_DIR."""
        if self.jwt_secret is not None:
            key = self.jwt_secret.get_secret_value()
            if len(key.encode()) < 32:
                raise ConfigError("PREDICTQL_JWT_SECRET must be at least 32 bytes")
            return key
        if self.environment == "production":
            raise ConfigError("PREDICTQL_JWT_SECRET is required in production")
        path = self.data_dir / DEV_SECRET_FILE
        if not path.exists():
            self._generate_secret(path)
        return path.read_text().strip()

    @staticmethod
    def _generate_secret(path: Path) -> None:
        """Written whole, first process wins: processes starting together on a fresh data directory
        must not read a half-written file or each keep a secret of its own."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # fails if another process got there first
            log.warning("generated a development JWT secret in %s; set PREDICTQL_JWT_SECRET in production", path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    def check(self) -> None:
        """Fail fast at start-up on a configuration that cannot run; apply the password profile."""
        from predictql.auth import use_password_profile  # auth does not read settings itself

        self.data_dir.mkdir(parents=True, exist_ok=True)
        _ = self.secret_key
        if self.environment == "production" and self.password_hash_profile != "standard":
            raise ConfigError("PREDICTQL_PASSWORD_HASH_PROFILE=test is refused in production")
        if self.environment == "production" and self.is_sqlite:
            log.warning("production with SQLite: one process only, no scale-out")
        if self.ws_read_deadline_seconds <= self.ws_ping_interval_seconds:
            raise ConfigError("PREDICTQL_WS_READ_DEADLINE_SECONDS must exceed PREDICTQL_WS_PING_INTERVAL_SECONDS")
        use_password_profile(self.password_hash_profile)

    @property
    def ws_pong_timeout(self) -> float:
        """How long after a ping its pong may come: the read deadline counts from the last pong."""
        return self.ws_read_deadline_seconds - self.ws_ping_interval_seconds
