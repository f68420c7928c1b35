"""Settings of `agenttui serve`, resolved once from options and environment variables.

Everything the server does is decided here before anything connects, so a bad setting (a
non-loopback bind without a token, a malformed address) stops the server with one clear message
instead of surfacing later as a half-started service.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_STREAM = "agent_events"
DEFAULT_GROUP = "agenttui"
DEFAULT_WS = "127.0.0.1:8765"
DEFAULT_BATCH = 500
DEFAULT_CLAIM_IDLE_S = 60.0
DEFAULT_MAX_BACKOFF_S = 30.0
DEFAULT_CLIENT_QUEUE = 10_000
WS_PATH = "/ws/events"
HEALTH_PATH = "/healthz"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class ConfigError(ValueError):
    """A setting is unusable; the message names the option or environment variable."""


@dataclass(frozen=True)
class ServeConfig:
    db: str
    redis_url: str = DEFAULT_REDIS_URL
    stream: str = DEFAULT_STREAM
    group: str = DEFAULT_GROUP
    consumer: str = ""
    dead_letter_stream: str = ""
    ws_host: str | None = "127.0.0.1"  # None: no WebSocket server
    ws_port: int = 8765
    token: str | None = None
    replay_latest: bool = False
    batch_size: int = DEFAULT_BATCH
    block_ms: int = 2000
    claim_idle_s: float = DEFAULT_CLAIM_IDLE_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
    client_queue: int = DEFAULT_CLIENT_QUEUE
    otlp_host: str | None = None  # None: no OTLP/HTTP receiver
    otlp_port: int = 4318
    redis_enabled: bool = True

    def __post_init__(self) -> None:
        if not self.consumer:
            object.__setattr__(self, "consumer", default_consumer())
        if not self.dead_letter_stream:
            object.__setattr__(self, "dead_letter_stream", f"{self.stream}:dead")
        self.validate()

    def validate(self) -> None:
        if not self.db:
            raise ConfigError("no database given: pass --db TARGET or set AGENTTUI_DB")
        if not self.stream:
            raise ConfigError("--stream must not be empty")
        if self.dead_letter_stream == self.stream:
            raise ConfigError("--dead-letter must name a different stream than --stream")
        if self.batch_size < 1 or self.batch_size > 100_000:
            raise ConfigError(f"--batch-size must be between 1 and 100000, got {self.batch_size}")
        if self.claim_idle_s < 0:
            raise ConfigError(f"--claim-idle must be >= 0 seconds, got {self.claim_idle_s}")
        if self.max_backoff_s <= 0:
            raise ConfigError(f"--max-backoff must be > 0 seconds, got {self.max_backoff_s}")
        if self.client_queue < 1:
            raise ConfigError(f"--client-queue must be >= 1, got {self.client_queue}")
        if urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"--redis {redact_url(self.redis_url)!r}: expected redis://HOST:PORT/DB, "
                              "rediss://... or unix:///path/to/socket")
        if self.ws_host is not None and not is_loopback(self.ws_host) and not self.token:
            raise ConfigError(
                f"--ws {self.ws_host}:{self.ws_port} listens beyond this machine; set --token or AGENTTUI_TOKEN "
                "so that clients must authenticate (or bind 127.0.0.1)"
            )
        if self.otlp_host is not None and not is_loopback(self.otlp_host) and not self.token:
            raise ConfigError(
                f"--otlp {self.otlp_host}:{self.otlp_port} listens beyond this machine; set --token or "
                "AGENTTUI_TOKEN so that exporters must authenticate (or bind 127.0.0.1)"
            )
        if not self.redis_enabled and self.otlp_host is None:
            raise ConfigError("nothing to receive: --redis off needs --otlp HOST:PORT")

    @property
    def redis_display(self) -> str:
        return redact_url(self.redis_url)


def default_consumer() -> str:
    """A name that stays the same across restarts on one host, so a restarted server reads back the
    entries its previous incarnation had received but not yet acknowledged."""
    return f"agenttui-{socket.gethostname() or 'host'}"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_ws_address(text: str, option: str = "--ws") -> tuple[str | None, int]:
    """'HOST:PORT', '[v6]:PORT', ':PORT', 'PORT' or 'off' -> (host or None, port); errors name `option`."""
    value = text.strip()
    if value.lower() in ("off", "none", "no"):
        return None, 0
    host, port_text = "127.0.0.1", value
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or value[end + 1:end + 2] != ":":
            raise ConfigError(f"{option} {text!r}: expected [IPv6]:PORT")
        host, port_text = value[1:end], value[end + 2:]
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
        host = host or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: the port must be a number (HOST:PORT, e.g. 127.0.0.1:8765)") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{option} {text!r}: port {port} is out of range 0-65535")
    return host, port


def parse_bool_env(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def redact_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()
