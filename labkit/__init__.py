"""The lab toolkit: what the Molecule tests, the drills and the benchmark share.

- `waiting`: polling until a condition holds (never an assertion by itself);
- `hosts`: the lab hosts (systemd containers) by name: commands, units, restarts;
- `redis_cli`: redis-cli on a lab host as one ACL user, passwords through the environment;
- `platform`: the deployed platform seen from the controller: its settings, a Celery client
  with the services' own credentials, drill batches of tally tasks and their outcomes;
- `ansible`: ansible-playbook runs read through the json callback;
- `figures`: the figure tables the drills print at the end.
- `certificates`: a CA and server certificates for the TLS tests (another CA, for one).

Everything runs on the controller; nothing is copied to the hosts.
"""
