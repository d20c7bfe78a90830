"""The simulator's settings: one frozen value object, passed in, never read from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idp.bankid.simulator.persons import DEFAULT_PERSON, Person


class Fault(StrEnum):
    """What fault injection may do to an RP API request."""

    MAINTENANCE = "maintenance"  # 503 {"errorCode": "maintenance"}
    INTERNAL_ERROR = "internalError"  # 500 {"errorCode": "internalError"}
    RATE_LIMITED = "rateLimited"  # 429 with RateLimit-* headers
    SLOW = "slow"  # answer normally after `slow_delay` seconds


class UnknownOrderRef(StrEnum):
    """How `/collect` and `/cancel` answer an orderRef the simulator does not (or no longer) know.

    An order the simulator issued and has forgotten always answers 400 ``invalidParameters``
    (BankID: "an orderRef that is too old"). One it never issued answers 404 ``notFound`` by
    default (the issue's contract); ``invalid_parameters`` answers 400 for those too.
    """

    INVALID_PARAMETERS = "invalid_parameters"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class SimulatorSettings:
    #: An order not scanned or autostarted within this many seconds fails with startFailed.
    start_timeout: float = 30.0
    #: A picked-up order that the user never finishes, or an untouched phone order, fails with
    #: expiredTransaction this many seconds after it was created.
    order_lifetime: float = 180.0
    #: Seconds the simulated user spends in each pending state after the app picks the order up
    #: (started, userCallConfirm, userSign, userMrtd). 0 makes orders final at once.
    think_time: float = 1.0
    #: How many seconds old a scanned QR frame may be (t_now - tolerance <= t <= t_now).
    qr_tolerance: int = 2
    #: Seconds a final order stays collectable: complete about 3 min, failed about 5 min.
    complete_retention: float = 180.0
    failed_retention: float = 300.0
    #: Who acts when /app/* is called without a personalNumber (and the order names nobody).
    default_person: Person = DEFAULT_PERSON
    #: Fault injection on the RP API: the chance per request, and the faults to pick from.
    fault_rate: float = 0.0
    faults: tuple[Fault, ...] = (Fault.MAINTENANCE, Fault.INTERNAL_ERROR, Fault.SLOW)
    slow_delay: float = 3.0
    unknown_order_ref: UnknownOrderRef = UnknownOrderRef.NOT_FOUND
    #: The simulator's CA and OCSP responder keys and certificates derive from this seed, so a
    #: signature stays verifiable after a restart against the CA published at ``/ca.pem``. Not
    #: a secret worth keeping: anyone with the seed can make "simulator" signatures.
    evidence_seed: str = "idp-simulator"

    def __post_init__(self) -> None:
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if self.think_time < 0 or self.qr_tolerance < 0 or self.slow_delay < 0:
            raise ValueError("think_time, qr_tolerance and slow_delay must not be negative")
        if self.fault_rate and not self.faults:
            raise ValueError("fault_rate is set but faults is empty")
