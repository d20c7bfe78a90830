"""A BankID RP API v6.0 simulator with a scriptable user app."""

from idp.bankid.simulator.app import create_simulator_app
from idp.bankid.simulator.persons import (
    ALL_PERSONS,
    DEFAULT_PERSON,
    SCENARIO_PERSONS,
    TEST_PERSONS,
    Outcome,
    Person,
)
from idp.bankid.simulator.serve import serve_simulator, simulator_server_config
from idp.bankid.simulator.settings import Fault, SimulatorSettings, UnknownOrderRef

__all__ = [
    "ALL_PERSONS",
    "DEFAULT_PERSON",
    "SCENARIO_PERSONS",
    "TEST_PERSONS",
    "Fault",
    "Outcome",
    "Person",
    "SimulatorSettings",
    "UnknownOrderRef",
    "create_simulator_app",
    "serve_simulator",
    "simulator_server_config",
]
