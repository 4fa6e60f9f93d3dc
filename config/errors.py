"""The one error configuration raises."""


class ConfigError(ValueError):
    """A setting or the accounts file is wrong; the message names the variable or key."""
