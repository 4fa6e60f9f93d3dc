"""The accounts file: one TOML table per account alias, credentials named as the gateway names them.

```toml
[accounts.shop]                  # WAMM.chat
provider = "wamm"
token_env = "SHOP_WAMM_TOKEN"    # or: token = "..."
rate_limit = "5/s"

[accounts.support]               # GREEN-API
provider = "greenapi"
id_instance = "7103000000"
api_token_instance = "..."
api_url = "https://7103.api.greenapi.com"
[accounts.support.method_limits]
getMessage = "10/s"
```

Which fields each gateway's accounts give, and which of them are secret, is its entry in
``config/gateways.py``. Any credential field ``X`` may instead be given as
``X_env = "VARIABLE"``. Secrets are kept out of ``repr`` so an account never prints its
token by accident.

A gateway that pushes (its entry's ``push_secret``) takes that key too, optional, as secret
as the token: GREEN-API's ``webhook_token`` (the webhookUrlToken it sends as a bearer
header), WAMM.chat's ``webhook_secret`` (the last segment of the webhook URL given to it).
A GREEN-API account may set ``notifications = true``: ``statuswatch notifications`` then
reads its receiveNotification queue (docs/push.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from config.errors import ConfigError
from config.gateways import GATEWAYS

ALIAS_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\s*$")


@dataclass(frozen=True)
class Rate:
    """A request budget: ``count`` requests per ``per_s`` seconds."""

    count: float
    per_s: float

    def __str__(self) -> str:
        unit = "s" if self.per_s == 1 else "m"
        return f"{self.count:g}/{unit}"


def parse_rate(text: str, where: str) -> Rate:
    """Parse ``"20/s"`` or ``"600/m"``.

    Raises:
        ConfigError: naming ``where`` when the text is not such a rate.
    """
    match = RATE_RE.match(text) if isinstance(text, str) else None
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{where}: expected a rate like '20/s' or '600/m', got {text!r}")
    per_s = 1.0 if match.group(2).startswith("s") else 60.0
    return Rate(float(match.group(1)), per_s)


@dataclass(frozen=True)
class Account:
    """One gateway account, known to producers by its alias."""

    alias: str
    provider: str
    base_url: str
    credentials: Mapping[str, str] = field(repr=False)
    rate_limit: Rate | None = None
    method_limits: Mapping[str, Rate] = field(default_factory=dict)
    #: the secret pushes to the webhook receiver prove themselves with; None: no webhook
    webhook_secret: str | None = field(default=None, repr=False)
    #: whether ``statuswatch notifications`` reads this account's notification queue
    notifications: bool = False

    @property
    def credential_key(self) -> str:
        """A stable, non-secret name of the credential: two aliases of one token share it."""
        raw = f"{self.provider}\0{self.credentials[GATEWAYS[self.provider].identity]}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def secrets(self) -> list[str]:
        """The secret values of this account, for redaction."""
        secrets = [self.credentials[name] for name in GATEWAYS[self.provider].secrets]
        return [*secrets, self.webhook_secret] if self.webhook_secret else secrets


class Accounts(Mapping[str, Account]):
    """Accounts by alias."""

    def __init__(self, accounts: Mapping[str, Account]) -> None:
        self._accounts = dict(accounts)

    def __getitem__(self, alias: str) -> Account:
        return self._accounts[alias]

    def __iter__(self) -> Iterator[str]:
        return iter(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def secrets(self) -> list[str]:
        """Every secret of every account, for redaction."""
        return [s for account in self._accounts.values() for s in account.secrets()]


def load_accounts(path: Path | str, environ: Mapping[str, str] | None = None) -> Accounts:
    """Read and validate an accounts file.

    Raises:
        ConfigError: the file is missing or unreadable, or an entry is wrong; the message
            names the file and the key.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"STATUSWATCH_ACCOUNTS_FILE: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_accounts(data, os.environ if environ is None else environ, str(path))


def parse_accounts(data: Mapping[str, object], environ: Mapping[str, str], source: str) -> Accounts:
    """Validate the parsed TOML of an accounts file (see ``load_accounts``)."""
    table = data.get("accounts", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: 'accounts' must be a table of [accounts.NAME] tables")
    return Accounts({alias: _account(alias, entry, environ) for alias, entry in table.items()})


def _account(alias: str, entry: object, environ: Mapping[str, str]) -> Account:
    where = f"accounts.{alias}"
    if not ALIAS_RE.match(alias):
        raise ConfigError(f"{where}: an alias is 1-64 letters, digits, '_', '.' or '-'")
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    provider = entry.get("provider")
    gateway = GATEWAYS.get(provider) if isinstance(provider, str) else None
    if gateway is None or not isinstance(provider, str):
        raise ConfigError(f"{where}.provider: must be one of {sorted(GATEWAYS)}, got {provider!r}")
    known = {"provider", gateway.url_field, "rate_limit", "method_limits"}
    optional = (gateway.push_secret,) if gateway.push_secret else ()
    known |= {*gateway.credentials, *optional, *(f"{name}_env" for name in (*gateway.credentials, *optional))}
    known |= {"notifications"} if gateway.notifications else set()
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for a {provider} account")
    credentials = {name: _credential(where, name, entry, environ) for name in gateway.credentials}
    base_url = entry.get(gateway.url_field, gateway.default_url)
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.{gateway.url_field}: expected an http(s) URL, got {base_url!r}")
    rate = entry.get("rate_limit")
    methods = entry.get("method_limits", {})
    if not isinstance(methods, dict):
        raise ConfigError(f'{where}.method_limits: must be a table of METHOD = "N/s"')
    return Account(
        alias=alias,
        provider=provider,
        base_url=base_url.rstrip("/"),
        credentials=credentials,
        rate_limit=None if rate is None else parse_rate(rate, f"{where}.rate_limit"),
        method_limits={name: parse_rate(value, f"{where}.method_limits.{name}") for name, value in methods.items()},
        webhook_secret=_optional(where, gateway.push_secret, entry, environ),
        notifications=_flag(where, "notifications", entry),
    )


def _optional(where: str, name: str | None, entry: dict[str, object], environ: Mapping[str, str]) -> str | None:
    """An optional credential (a push secret): as ``_credential``, None when neither key is given."""
    if name is None or (name not in entry and f"{name}_env" not in entry):
        return None
    return _credential(where, name, entry, environ)


def _flag(where: str, name: str, entry: dict[str, object]) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{name}: must be true or false, got {value!r}")
    return value


def _credential(where: str, name: str, entry: dict[str, object], environ: Mapping[str, str]) -> str:
    if name in entry and f"{name}_env" in entry:
        raise ConfigError(f"{where}: give either {name} or {name}_env, not both")
    if f"{name}_env" in entry:
        variable = entry[f"{name}_env"]
        if not isinstance(variable, str) or variable not in environ:
            raise ConfigError(f"{where}.{name}_env: environment variable {variable!r} is not set")
        value: object = environ[variable]
    elif name in entry:
        value = entry[name]
    else:
        raise ConfigError(f"{where}.{name}: missing (or give {name}_env)")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise ConfigError(f"{where}.{name}: must be a non-empty string or number")
    return str(value).strip()
