"""Filters the pki role uses to tell whether a certificate in place may stay.

The CA's checks before it signs again (community.crypto's ownca provider) run on the
controller once per certificate; these two let the role make the same comparison from the
certificate's description on the host, with nothing to sign.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def pki_key_identifier(public_key_pem: str) -> str:
    """The key identifier a CA without a Subject Key Identifier puts in the certificates it
    signs (RFC 5280 4.2.1.2 method 1, as cryptography's from_issuer_public_key does), in the
    notation of x509_certificate_info's authority_key_identifier."""
    key = serialization.load_pem_public_key(public_key_pem.encode())
    digest = x509.SubjectKeyIdentifier.from_public_key(key).digest  # type: ignore[arg-type]
    return ":".join(f"{byte:02x}" for byte in digest)


def pki_canonical_name(name: str) -> str:
    """A subjectAltName as a certificate describes it: an IP address in its compressed form
    (IP:::1, not IP:0:0:0:0:0:0:0:1); other names as given."""
    kind, _, value = name.partition(":")
    if kind == "IP":
        return f"IP:{ipaddress.ip_address(value).compressed}"
    return name


class FilterModule:
    """Ansible's entry point for the role's filters."""

    def filters(self) -> dict[str, Callable[[str], str]]:
        return {
            "pki_key_identifier": pki_key_identifier,
            "pki_canonical_name": pki_canonical_name,
        }
