"""Configuration of statuswatch: typed settings from the environment and the accounts file.

Nothing here imports the rest of the project; everything else imports from here.
"""

from config.accounts import PROVIDERS, Account, Accounts, Rate, load_accounts, parse_rate
from config.errors import ConfigError
from config.settings import PollPolicy, Settings, load_settings

__all__ = [
    "PROVIDERS",
    "Account",
    "Accounts",
    "ConfigError",
    "PollPolicy",
    "Rate",
    "Settings",
    "load_accounts",
    "load_settings",
    "parse_rate",
]
