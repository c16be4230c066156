"""Drill 14 — certificate renewal: a Redis certificate that expires within the renewal threshold
is replaced by the next site.yml. The instances serve the new certificate without a restart
(CONFIG SET reloads it; open connections stay up), no app service restarts (their CA is
unchanged), tasks keep running, and the next run changes nothing (drill 12)."""

from __future__ import annotations

import socket
import ssl

from cryptography import x509

from labkit.hosts import main_pid
from labkit.redis_cli import BROKER_PORT

# The certificate in place lasts 365 days (pki_certificate_days): a 366-day renewal margin
# makes it one that "expires within the threshold" for this run; the new one lasts 400 days.
NEAR_EXPIRY = ("-e", "pki_renew_days=366", "-e", "pki_certificate_days=400")


def served_certificate(scenario) -> x509.Certificate:
    """The certificate the broker presents to a new TLS connection, verified against the CA."""
    address = scenario.address(scenario.redis_host)
    context = ssl.create_default_context(cafile=str(scenario.ca_file))
    with (
        socket.create_connection((address, BROKER_PORT), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=address) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def unit_pids(scenario) -> dict[str, int]:
    return {
        f"{host}/{unit}": main_pid(host, f"{unit}.service")
        for host in scenario.every_host
        for unit in scenario.units_of(host)
    }


def test_a_certificate_near_expiry_is_renewed_and_reloaded_in_place(
    scenario, platform, run_site, figures
):
    assert scenario.tls
    old = served_certificate(scenario)
    before = unit_pids(scenario)
    run = run_site(*NEAR_EXPIRY)
    new = served_certificate(scenario)
    after = unit_pids(scenario)
    restarted = sorted(unit for unit in before if before[unit] != after[unit])
    canary = platform.run_task("app.tasks.health.canary", timeout=60)
    figures.record(
        "Drill 14 - certificate renewal",
        run_seconds=round(run.seconds, 1),
        old_expires=old.not_valid_after_utc.date().isoformat(),
        new_expires=new.not_valid_after_utc.date().isoformat(),
        restarted=", ".join(restarted) or "none",
        canary=canary["state"],
    )
    assert run.returncode == 0, run.text[-3000:]
    assert new.serial_number != old.serial_number
    assert new.not_valid_after_utc > old.not_valid_after_utc
    assert restarted == []
    assert canary["state"] == "SUCCESS", canary
