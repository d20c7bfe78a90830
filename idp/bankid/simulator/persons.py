"""The simulator's people: a default person, named test persons, and scenario persons.

A scenario person's orders end the way their `Outcome` says whatever the tester does (except
that cancelling always cancels), so every branch of a BankID UI can be reached on purpose.
Personal numbers are synthetic, built with a valid check digit; any other valid personal number
is accepted too and becomes a generic person whose orders complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idp.authn.personal_number import with_check_digit


class Outcome(StrEnum):
    COMPLETE = "complete"
    USER_CANCEL = "userCancel"
    CERTIFICATE_ERR = "certificateErr"
    EXPIRED = "expiredTransaction"
    HIGH_RISK = "highRisk"
    RISK_BLOCKED = "transactionRiskBlocked"
    NOT_SUPPORTED = "notSupportedByUserApp"


@dataclass(frozen=True)
class Person:
    personal_number: str
    given_name: str
    surname: str
    outcome: Outcome = Outcome.COMPLETE
    bank_id_issue_date: str = "2023-01-01"
    scenario_sv: str = ""
    scenario_en: str = ""

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.surname}"

    def __repr__(self) -> str:  # personal data stays out of logs
        return f"Person({self.name!r}, outcome={self.outcome.value})"


def _p(
    prefix: str,
    given: str,
    surname: str,
    outcome: Outcome = Outcome.COMPLETE,
    sv: str = "",
    en: str = "",
) -> Person:
    return Person(with_check_digit(prefix), given, surname, outcome, scenario_sv=sv, scenario_en=en)


DEFAULT_PERSON = _p("19850101238", "Anna", "Andersson", sv="Godkänner", en="Approves")

TEST_PERSONS: tuple[Person, ...] = (
    DEFAULT_PERSON,
    _p("19720315239", "Björn", "Berglund", sv="Godkänner", en="Approves"),
    _p("19931124240", "Cecilia", "Carlsson", sv="Godkänner", en="Approves"),
)

SCENARIO_PERSONS: tuple[Person, ...] = (
    _p(
        "19600607241",
        "Agnes",
        "Avbryt",
        Outcome.USER_CANCEL,
        "Avbryter i appen (userCancel)",
        "Cancels in the app (userCancel)",
    ),
    _p(
        "19811212242",
        "Sture",
        "Spärrad",
        Outcome.CERTIFICATE_ERR,
        "Spärrat BankID (certificateErr)",
        "Blocked BankID (certificateErr)",
    ),
    _p(
        "19770707243",
        "Tove",
        "Tidsgräns",
        Outcome.EXPIRED,
        "Slutför aldrig (expiredTransaction)",
        "Never finishes (expiredTransaction)",
    ),
    _p(
        "19880808244",
        "Rut",
        "Riskabel",
        Outcome.HIGH_RISK,
        "Slutför med hög risk (risk=high)",
        "Completes with high risk (risk=high)",
    ),
    _p(
        "19950505245",
        "Bo",
        "Blockerad",
        Outcome.RISK_BLOCKED,
        "Stoppas av BankID (transactionRiskBlocked)",
        "Blocked by BankID (transactionRiskBlocked)",
    ),
    _p(
        "19451111246",
        "Gustav",
        "Gammalapp",
        Outcome.NOT_SUPPORTED,
        "För gammal app (notSupportedByUserApp)",
        "App too old (notSupportedByUserApp)",
    ),
)

ALL_PERSONS: tuple[Person, ...] = TEST_PERSONS + SCENARIO_PERSONS
_BY_NUMBER = {p.personal_number: p for p in ALL_PERSONS}


def person_for(personal_number: str) -> Person:
    """The built-in person with this (valid, canonical) number, or a generic one."""
    return _BY_NUMBER.get(personal_number) or Person(personal_number, "Test", "Testsson")
