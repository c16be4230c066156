"""`python -m app.ops drain|ready --env-file FILE --node GROUP@%H --queues a,b --timeout S`.

Reads the services' environment file itself (never the command line: it holds passwords),
prints one JSON line, exits 0 when done and 1 when not (the playbook fails the host).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from app.core.celery import create_celery_app
from app.core.config import settings_from_env_file
from app.ops import workers

ACTIONS = {"drain": workers.drain, "ready": workers.ready}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.ops", description=__doc__)
    parser.add_argument("action", choices=sorted(ACTIONS))
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--node", required=True, help="the worker's --hostname, e.g. default@%%H")
    parser.add_argument("--queues", required=True, help="comma-separated")
    parser.add_argument("--timeout", type=float, required=True, help="seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = settings_from_env_file(args.env_file.read_text(), log_dir=None)
    control = create_celery_app(settings).control
    node = workers.node_name(args.node)
    outcome = ACTIONS[args.action](control, node, args.queues.split(","), args.timeout)
    print(json.dumps(asdict(outcome)))
    return 0 if outcome.done else 1


if __name__ == "__main__":
    raise SystemExit(main())
