"""Drill 14 — certificate renewal: certificates that expire within the renewal threshold are
replaced by the next site.yml. Redis serves its new certificate without a restart (CONFIG SET
reloads it; open connections stay up), nginx its own after a reload, no app service restarts
(their CA is unchanged), tasks keep running, and the next run changes nothing (drill 12).
A certificate still far from expiry is replaced too when it names an address the host no
longer has, or comes from another CA (a check run tells)."""

from __future__ import annotations

from cryptography import x509

from labkit.certificates import pki_ca_folder
from labkit.certificates import served as served_by
from labkit.hosts import main_pid
from labkit.redis_cli import BROKER_PORT

BACKEND_PORT = 8000
# The certificate in place lasts 365 days (pki_certificate_days): a 366-day renewal margin
# makes it one that "expires within the threshold" for this run; the new one lasts 400 days.
NEAR_EXPIRY = ("-e", "pki_renew_days=366", "-e", "pki_certificate_days=400")


def unit_pids(scenario) -> dict[str, int]:
    pids = {
        f"{host}/{unit}": main_pid(host, f"{unit}.service")
        for host in scenario.every_host
        for unit in scenario.units_of(host)
    }
    pids["nginx"] = main_pid(scenario.app_host, "nginx.service")
    return pids


def served(scenario) -> dict[str, x509.Certificate]:
    """The certificates Redis and nginx present to new connections."""
    return {
        "redis": served_by(scenario.address(scenario.redis_host), BROKER_PORT, scenario.ca_file),
        "backend (nginx)": served_by(
            scenario.address(scenario.app_host), BACKEND_PORT, scenario.ca_file
        ),
    }


def test_a_certificate_near_expiry_is_renewed_and_reloaded_in_place(
    scenario, platform, run_site, figures
):
    assert scenario.tls
    old = served(scenario)
    before = unit_pids(scenario)
    run = run_site(*NEAR_EXPIRY)
    new = served(scenario)
    after = unit_pids(scenario)
    restarted = sorted(unit for unit in before if before[unit] != after[unit])
    canary = platform.run_task("app.tasks.health.canary", timeout=60)
    for service, certificate in new.items():
        figures.record(
            "Drill 14 - certificate renewal",
            service=service,
            run_seconds=round(run.seconds, 1),
            old_expires=old[service].not_valid_after_utc.date().isoformat(),
            new_expires=certificate.not_valid_after_utc.date().isoformat(),
            restarted=", ".join(restarted) or "none",
            canary=canary["state"],
        )
    assert run.returncode == 0, run.text[-3000:]
    for service, certificate in new.items():
        assert certificate.serial_number != old[service].serial_number, service
        assert certificate.not_valid_after_utc > old[service].not_valid_after_utc, service
    assert restarted == []
    assert canary["state"] == "SUCCESS", canary


def test_a_certificate_for_other_addresses_or_from_another_ca_is_replaced(
    scenario, run_site, tmp_path
):
    ours = x509.load_pem_x509_certificate(scenario.ca_file.read_bytes())
    common_name = ours.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    changes = {
        "another address": ("-e", '{"pki_addresses": ["192.0.2.10"]}'),
        "another CA of the same name": (
            "-e",
            f"pki_ca_dir={pki_ca_folder(tmp_path, str(common_name))}",
        ),
    }
    for change, extra_vars in changes.items():
        run = run_site("--check", "--tags", "backend", "--limit", scenario.app_host, *extra_vars)
        assert run.returncode == 0, run.messages() or run.text[-3000:]
        assert run.outcomes("pki : Install the certificate") == ["changed"], change
