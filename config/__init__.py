"""Configuration of statuswatch: typed settings from the environment and the accounts file.

Nothing here imports the rest of the project; everything else imports from here.
"""

from config.accounts import Account, Accounts, Rate, load_accounts, parse_rate
from config.errors import ConfigError
from config.gateways import GATEWAYS, Gateway
from config.settings import PollPolicy, Settings, load_settings

#: the same table by its former name: the gateways accounts and requests name as ``provider``
PROVIDERS = GATEWAYS

__all__ = [
    "GATEWAYS",
    "PROVIDERS",
    "Account",
    "Accounts",
    "ConfigError",
    "Gateway",
    "PollPolicy",
    "Rate",
    "Settings",
    "load_accounts",
    "load_settings",
    "parse_rate",
]
