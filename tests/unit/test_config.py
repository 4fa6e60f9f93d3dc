from pathlib import Path

import pytest

from config import ConfigError, load_accounts, load_settings, parse_rate


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.broker_url == settings.redis_url
    assert settings.accounts_file is None


def test_broker_defaults_to_store_url() -> None:
    settings = load_settings({"STATUSWATCH_REDIS_URL": "redis://127.0.0.1:6390/3"})
    assert settings.broker_url == "redis://127.0.0.1:6390/3"


def test_fractional_durations_for_tests() -> None:
    settings = load_settings({"STATUSWATCH_LEASE_S": "0.25", "STATUSWATCH_POLL_FIRST_S": "0.05"})
    assert settings.lease_s == 0.25
    assert settings.poll.first_s == 0.05


def test_gateway_answer_bounds() -> None:
    assert load_settings({}).http_max_body_bytes == 4 * 1024 * 1024
    assert load_settings({"STATUSWATCH_HTTP_MAX_BODY_BYTES": "65536"}).http_max_body_bytes == 65536


def test_per_provider_poll_override() -> None:
    settings = load_settings({"STATUSWATCH_WBIZTOOL_POLL_MAX_S": "900"})
    assert settings.poll_for("wbiztool").max_s == 900
    assert settings.poll_for("wamm").max_s == 300


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"STATUSWATCH_LEASE_S": "soon"}, "STATUSWATCH_LEASE_S"),
        ({"STATUSWATCH_LEASE_S": "-1"}, "STATUSWATCH_LEASE_S"),
        ({"STATUSWATCH_LEASE_S": "0"}, "STATUSWATCH_LEASE_S"),
        ({"STATUSWATCH_REDIS_URL": "localhost"}, "STATUSWATCH_REDIS_URL"),
        ({"STATUSWATCH_DISPATCH_BATCH": "1.5"}, "STATUSWATCH_DISPATCH_BATCH"),
        ({"STATUSWATCH_POLL_JITTER": "2"}, "STATUSWATCH_POLL_JITTER"),
        ({"STATUSWATCH_POLL_FIRST_S": "10", "STATUSWATCH_POLL_MAX_S": "5"}, "STATUSWATCH_POLL_MAX_S"),
        ({"STATUSWATCH_DEFAULT_EXPIRES_S": "nan"}, "STATUSWATCH_DEFAULT_EXPIRES_S"),
        ({"STATUSWATCH_HTTP_MAX_BODY_BYTES": "1 MiB"}, "STATUSWATCH_HTTP_MAX_BODY_BYTES"),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings(env)


ACCOUNTS = """
[accounts.shop]
provider = "wamm"
token_env = "SHOP_TOKEN"
rate_limit = "5/s"

[accounts.billing]
provider = "wbiztool"
client_id = 1234
api_key = "wbiz-secret-key"

[accounts.support]
provider = "greenapi"
id_instance = "7103000000"
api_token_instance = "green-secret-token"
api_url = "https://7103.api.greenapi.com/"
[accounts.support.method_limits]
getMessage = "10/s"
lastOutgoingMessages = "60/m"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    return path


def test_accounts_file(tmp_path: Path) -> None:
    accounts = load_accounts(write(tmp_path, ACCOUNTS), {"SHOP_TOKEN": "wamm-secret-token"})
    assert sorted(accounts) == ["billing", "shop", "support"]
    shop = accounts["shop"]
    assert shop.credentials["token"] == "wamm-secret-token"
    assert shop.base_url == "https://wamm.chat"
    assert str(shop.rate_limit) == "5/s"
    support = accounts["support"]
    assert support.base_url == "https://7103.api.greenapi.com"
    assert support.method_limits["lastOutgoingMessages"].per_s == 60
    assert accounts["billing"].credentials["client_id"] == "1234"
    assert set(accounts.secrets()) == {"wamm-secret-token", "wbiz-secret-key", "green-secret-token"}
    # An account never prints its secrets.
    assert "secret" not in repr(shop) + repr(support) + repr(accounts["billing"])


def test_push_secrets_and_the_notifications_flag(tmp_path: Path) -> None:
    text = (
        '[accounts.g]\nprovider="greenapi"\nid_instance="1"\napi_token_instance="t"\nwebhook_token="wh-tok"\n'
        'notifications=true\n[accounts.w]\nprovider="wamm"\ntoken="t2"\nwebhook_secret_env="W_SECRET"\n'
        '[accounts.p]\nprovider="wamm"\ntoken="t3"\n'
    )
    accounts = load_accounts(write(tmp_path, text), {"W_SECRET": "path-secret"})
    assert accounts["g"].webhook_secret == "wh-tok" and accounts["g"].notifications
    assert accounts["w"].webhook_secret == "path-secret" and not accounts["w"].notifications
    assert accounts["p"].webhook_secret is None
    assert {"wh-tok", "path-secret"} <= set(accounts.secrets())
    assert "wh-tok" not in repr(accounts["g"]) and "path-secret" not in repr(accounts["w"])


def test_two_aliases_of_one_token_share_a_credential_key(tmp_path: Path) -> None:
    text = '[accounts.a]\nprovider="wamm"\ntoken="t0ken"\n[accounts.b]\nprovider="wamm"\ntoken="t0ken"\n'
    accounts = load_accounts(write(tmp_path, text))
    assert accounts["a"].credential_key == accounts["b"].credential_key
    assert "t0ken" not in accounts["a"].credential_key


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[accounts.x]\nprovider="telegram"\n', "accounts.x.provider"),
        ('[accounts.x]\nprovider="wamm"\n', "accounts.x.token"),
        ('[accounts.x]\nprovider="wamm"\ntoken_env="NOPE_NOT_SET"\n', "accounts.x.token_env"),
        ('[accounts.x]\nprovider="wamm"\ntoken="t"\ntoken_env="T"\n', "accounts.x"),
        ('[accounts.x]\nprovider="wamm"\ntoken=""\n', "accounts.x.token"),
        ('[accounts.x]\nprovider="wamm"\ntoken="t"\nrate_limit="fast"\n', "accounts.x.rate_limit"),
        ('[accounts.x]\nprovider="wamm"\ntoken="t"\nbase_url="ftp://x"\n', "accounts.x.base_url"),
        ('[accounts.x]\nprovider="wamm"\ntoken="t"\ncolour="red"\n', "colour"),
        ('[accounts.x]\nprovider="wbiztool"\napi_key="k"\n', "accounts.x.client_id"),
        (
            '[accounts.x]\nprovider="greenapi"\nid_instance="1"\napi_token_instance="t"\n'
            '[accounts.x.method_limits]\ngetMessage="ten"\n',
            "accounts.x.method_limits.getMessage",
        ),
        ('[accounts."a:b"]\nprovider="wamm"\ntoken="t"\n', "accounts.a:b"),
        ('[accounts.x]\nprovider="wamm"\ntoken="t"\nwebhook_token="w"\n', "webhook_token"),
        ('[accounts.x]\nprovider="wamm"\ntoken="t"\nnotifications=true\n', "notifications"),
        ('[accounts.x]\nprovider="wbiztool"\nclient_id=1\napi_key="k"\nwebhook_secret="s"\n', "webhook_secret"),
        ('[accounts.x]\nprovider="greenapi"\nid_instance="1"\napi_token_instance="t"\nwebhook_token=""\n',
         "accounts.x.webhook_token"),
        ('[accounts.x]\nprovider="greenapi"\nid_instance="1"\napi_token_instance="t"\nnotifications="yes"\n',
         "accounts.x.notifications"),
        ("not toml = = =", "not valid TOML"),
    ],
)
def test_bad_account_names_the_key(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        load_accounts(write(tmp_path, text), {})


def test_missing_accounts_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STATUSWATCH_ACCOUNTS_FILE"):
        load_accounts(tmp_path / "nope.toml")


@pytest.mark.parametrize(("text", "count", "per_s"), [("20/s", 20, 1), ("600/m", 600, 60), ("1.5 / sec", 1.5, 1)])
def test_parse_rate(text: str, count: float, per_s: float) -> None:
    rate = parse_rate(text, "x")
    assert (rate.count, rate.per_s) == (count, per_s)


@pytest.mark.parametrize("text", ["20", "0/s", "-1/s", "20/h", ""])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="where"):
        parse_rate(text, "where")
