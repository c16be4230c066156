"""Ansible's `linear` strategy run through Mitogen for Ansible (ansible.cfg: strategy).

Mitogen keeps one Python interpreter per host alive for the whole run, over the same SSH
connection, and sends each module's code once, where stock Ansible starts a new interpreter and
ships the module for every task on every host. The tasks, their order and their results are
those of `linear`. This file only makes the strategy findable from the checkout (the package
installs it under its own path); set ANSIBLE_STRATEGY=linear to run without it.
"""

from __future__ import annotations

from ansible.errors import AnsibleError

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as missing:
    raise AnsibleError(
        "strategy mitogen_linear (ansible.cfg) needs the pinned mitogen package on the "
        "controller: pip install -c requirements/constraints.txt -e '.[dev]' "
        "(or run with ANSIBLE_STRATEGY=linear)"
    ) from missing

__all__ = ["StrategyModule"]
