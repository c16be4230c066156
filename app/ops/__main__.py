"""`python -m app.ops --env-file FILE ACTION …`, with the settings of the services on this host:

- `drain|ready --node GROUP@%h --queues a,b --timeout S`: a worker node before and after its
  restart (app.ops.workers);
- `schedule`: beat's schedule state (app.ops.beat).

Reads the environment file itself (never the command line: it holds passwords), prints one
JSON line (the outcome, or the broker's error), exits 0 when done and 1 when not (the playbook
then fails the host).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from kombu.exceptions import OperationalError
from redis import RedisError

from app.core.celery import create_celery_app
from app.core.config import Settings, settings_from_env_file
from app.ops import beat, workers

NODE_ACTIONS = {"drain": workers.drain, "ready": workers.ready}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.ops", description=__doc__)
    parser.add_argument("--env-file", type=Path, required=True)
    actions = parser.add_subparsers(dest="action", required=True)
    for name in NODE_ACTIONS:
        node = actions.add_parser(name)
        node.add_argument("--node", required=True, help="node name; %%h is this host's name")
        node.add_argument("--queues", required=True, help="comma-separated")
        node.add_argument("--timeout", type=float, required=True, help="seconds")
    actions.add_parser("schedule")
    return parser.parse_args(argv)


def node_action(settings: Settings, args: argparse.Namespace) -> int:
    control = create_celery_app(settings).control
    node = workers.node_name(args.node)
    try:
        outcome = NODE_ACTIONS[args.action](control, node, args.queues.split(","), args.timeout)
    except (OperationalError, RedisError, OSError) as error:  # the broker is away
        print(json.dumps({"done": False, "node": node, "error": str(error)}))
        return 1
    print(json.dumps(asdict(outcome)))
    return 0 if outcome.done else 1


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = settings_from_env_file(args.env_file.read_text(), log_dir=None)
    if args.action == "schedule":
        print(json.dumps(beat.schedule_state(settings.beat_schedule_file)))
        return 0
    return node_action(settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
