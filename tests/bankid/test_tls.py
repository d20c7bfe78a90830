import ssl

import pytest

from idp.bankid.tls import (
    ROOT_CA_FILES,
    TEST_RP_PASSWORD,
    TEST_RP_PEM,
    TEST_RP_PKCS12,
    CertificateError,
    Environment,
    create_ssl_context,
)


def _ca_names(context: ssl.SSLContext) -> list[str]:
    return [dict(x[0] for x in ca["subject"])["commonName"] for ca in context.get_ca_certs()]


def test_the_shipped_test_certificate_loads_from_pkcs12_and_pem():
    for kwargs in ({"pkcs12_file": TEST_RP_PKCS12}, {"cert_file": TEST_RP_PEM}):
        context = create_ssl_context(environment="test", password=TEST_RP_PASSWORD, **kwargs)
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_only_bankids_own_root_is_trusted_for_each_environment():
    test = create_ssl_context(environment=Environment.TEST)
    prod = create_ssl_context(environment=Environment.PRODUCTION)
    assert _ca_names(test) == ["Test BankID SSL Root CA v1 Test"]
    assert _ca_names(prod) == ["BankID SSL Root CA v1"]
    assert set(ROOT_CA_FILES) == set(Environment)


def test_loading_errors_name_the_file_not_the_secret():
    with pytest.raises(CertificateError, match="wrong password") as info:
        create_ssl_context(pkcs12_file=TEST_RP_PKCS12, password="not-it")
    assert "not-it" not in str(info.value)
    with pytest.raises(CertificateError, match="cannot load the RP certificate"):
        create_ssl_context(cert_file=TEST_RP_PEM, password="not-it")
    with pytest.raises(CertificateError, match="CA certificate"):
        create_ssl_context(ca_file=TEST_RP_PKCS12)
    with pytest.raises(CertificateError, match="not both"):
        create_ssl_context(pkcs12_file=TEST_RP_PKCS12, cert_file=TEST_RP_PEM)
    with pytest.raises(ValueError):
        create_ssl_context(environment="staging")
