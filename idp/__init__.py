"""idp: an OpenID Connect provider that brokers Swedish BankID."""

__version__ = "0.1.0"

__all__ = ["__version__"]
