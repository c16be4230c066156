"""Every role variable is documented: in its argument spec, its defaults (unless required)
and its README's table, with the role's prefix."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import ROOT

ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())


def options(role: str) -> dict[str, Any]:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    found: dict[str, Any] = specs["argument_specs"]["main"]["options"]
    return found


def defaults(role: str) -> dict[str, Any]:
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_prefixed_specified_defaulted_and_in_the_readme(role: str) -> None:
    readme = (ROOT / "roles" / role / "README.md").read_text()
    specified, defaulted = options(role), defaults(role)
    assert set(defaulted) <= set(specified), (
        f"defaults not in the spec: {set(defaulted) - set(specified)}"
    )
    for name, spec in specified.items():
        assert name.startswith(f"{role}_"), name
        assert spec.get("description"), f"{name}: no description"
        assert name in defaulted or spec.get("required"), f"{name}: neither defaulted nor required"
        assert f"| `{name}` |" in readme, f"{name}: not in the README's table"
        for option in spec.get("options", {}):
            assert f"`.{option}`" in readme, f"{name}.{option}: not in the README's table"
