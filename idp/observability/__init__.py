"""Metrics, structured logs and certificate checks; app.py wires them into a running instance.

Imports only idp.config and idp.clock of idp (checked by lint-imports).
"""

from idp.observability.certs import CertificateReport, Severity, check_bankid_certificate
from idp.observability.logging import configure_logging, current_request_id
from idp.observability.metrics import Metrics, RequestObserver

__all__ = [
    "CertificateReport",
    "Metrics",
    "RequestObserver",
    "Severity",
    "check_bankid_certificate",
    "configure_logging",
    "current_request_id",
]
