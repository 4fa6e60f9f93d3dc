"""``statuswatch doctor``: is this deployment ready? One verdict per line, in the order a
problem would bite: configuration, accounts, the store, the broker, each account's credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from statuswatch_client.contract import safe_url

from config import ConfigError, Settings, load_accounts, load_settings
from worker import misrouted, providers
from worker.errors import NotReady, ProviderError
from worker.redact import Redactor, install_log_redaction
from worker.text import printable

MIN_REDIS = (6, 2)


@dataclass(frozen=True)
class Verdict:
    level: str  #: "ok", "warn" or "FAIL"
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level:<4}  {self.what:<22} {self.detail}"


def diagnose(connect_broker: Callable[[Settings], None]) -> Iterator[Verdict]:
    """Every check, in order; stops early only where nothing after could be checked."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        yield Verdict("FAIL", "settings", str(exc))
        return
    yield Verdict("ok", "settings", f"namespace {settings.namespace!r}")
    yield from _accounts(settings)
    yield from _store(settings)
    try:
        connect_broker(settings)
        yield Verdict("ok", "broker", safe_url(settings.broker_url))
    except Exception as exc:  # any transport error: say what, never the URL's password
        yield Verdict("FAIL", "broker", f"{safe_url(settings.broker_url)}: {type(exc).__name__}")
        return
    yield from _misrouted(settings)


def _misrouted(settings: Settings) -> Iterator[Verdict]:
    """statuswatch tasks on queues no statuswatch worker reads: requests lost in silence."""
    try:
        findings = misrouted.find(settings)
    except Exception as exc:
        yield Verdict("warn", "misrouted tasks", f"could not read the broker's queues: {type(exc).__name__}")
        return
    if not findings:
        watched = ", ".join(settings.watch_queues)
        yield Verdict("ok", "misrouted tasks", f"none waiting outside statuswatch's queues (watched: {watched})")
    for finding in findings:
        # names seen (Redis): requests that no worker will ever take; depth only (RabbitMQ): maybe
        level = "FAIL" if finding.consumers is None else "warn"
        yield Verdict(level, "misrouted tasks", f"{finding.describe()}; fix: {misrouted.FIX}")


def _accounts(settings: Settings) -> Iterator[Verdict]:
    if settings.accounts_file is None:
        yield Verdict("FAIL", "accounts", "STATUSWATCH_ACCOUNTS_FILE is not set: workers cannot check anything")
        return
    try:
        accounts = load_accounts(settings.accounts_file)
    except ConfigError as exc:
        yield Verdict("FAIL", "accounts", str(exc))
        return
    yield Verdict("ok", "accounts", f"{len(accounts)} in {settings.accounts_file}")
    redactor = Redactor(accounts.secrets())
    # Each probe's URL reaches urllib3's DEBUG log (a WAMM token is a path segment, a
    # GREEN-API apiTokenInstance too) wherever the caller logs at DEBUG: as in a worker
    install_log_redaction(redactor)
    for alias, account in accounts.items():
        http = providers.Http(
            account.provider, redactor, min(settings.http_timeout_s, 10.0), settings.http_max_body_bytes
        )
        try:
            detail = providers.build(account, http).probe()
            yield Verdict("ok", f"account {alias}", f"{account.provider}: {printable(detail)}")
        except NotReady as exc:  # on its way (an instance starting): checks wait, nothing to fix
            yield Verdict("warn", f"account {alias}", printable(redactor(str(exc))))
        except ProviderError as exc:
            yield Verdict("FAIL", f"account {alias}", printable(redactor(str(exc))))


def _store(settings: Settings) -> Iterator[Verdict]:
    from worker.connections import redis_client

    client = redis_client(settings.redis_url)
    try:
        info: dict[str, Any] = client.info("server") | client.info("persistence")
    except Exception as exc:
        yield Verdict("FAIL", "redis", f"{safe_url(settings.redis_url)}: {type(exc).__name__}: {exc}")
        return
    version = tuple(int(p) for p in str(info.get("redis_version", "0.0")).split(".")[:2])
    level = "ok" if version >= MIN_REDIS else "FAIL"
    yield Verdict(level, "redis", f"{safe_url(settings.redis_url)}, version {info.get('redis_version')}")
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy", "")
        save = client.config_get("save").get("save", "")
    except Exception:
        yield Verdict("warn", "redis config", "CONFIG GET refused: cannot see eviction or persistence settings")
        return
    if policy == "noeviction":
        yield Verdict("ok", "redis eviction", "maxmemory-policy noeviction")
    else:
        yield Verdict("FAIL", "redis eviction", f"maxmemory-policy {policy}: trackers can be evicted; set noeviction")
    if info.get("aof_enabled") or save:
        yield Verdict(
            "ok", "redis persistence", f"appendonly {'yes' if info.get('aof_enabled') else 'no'}, save {save!r}"
        )
    else:
        yield Verdict("warn", "redis persistence", "none (no AOF, no RDB saves): a restart loses every tracker")
