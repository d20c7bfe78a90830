"""The customer-service console (/console): staff confirm who is calling with BankID.

An ordinary confidential client of the provider, using only its public HTTP interfaces
(`provider`); `staff` decides who may sign in, `app` serves the pages.
"""

from idp.console.app import ConsoleApp, reference
from idp.console.provider import Provider, ProviderError
from idp.console.staff import StaffIdentity, identify

__all__ = ["ConsoleApp", "Provider", "ProviderError", "StaffIdentity", "identify", "reference"]
