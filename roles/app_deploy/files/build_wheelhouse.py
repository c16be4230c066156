#!/usr/bin/env python3
"""Build the wheelhouse a MatchBot release installs from, on the controller.

build_wheelhouse.py release --project DIR
    print the release id: a hash of app/**/*.py, pyproject.toml and the pins
build_wheelhouse.py build --project DIR --output DIR --python-version X.Y --platform TAG...
    the app's wheel plus every pinned dependency as binary wheels for that Python and those
    platform tags; written to a temporary folder and renamed, so a half-built wheelhouse
    never passes for a finished one (RELEASE marks it complete); wheelhouse.tar holds the
    same files as one archive, which is what the hosts receive
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PINS = Path("requirements/constraints.txt")


def release_id(project: Path) -> str:
    digest = hashlib.sha256()
    sources = [*sorted(project.glob("app/**/*.py")), project / "pyproject.toml", project / PINS]
    for path in sources:
        digest.update(str(path.relative_to(project)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def build(project: Path, output: Path, python_version: str, platforms: list[str]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(staging), str(project))
        (app_wheel,) = staging.glob("*.whl")
        platform_args = [arg for tag in platforms for arg in ("--platform", tag)]
        pip(
            "download",
            "--quiet",
            "--dest",
            str(staging),
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            *platform_args,
            "--constraint",
            str(project / PINS),
            str(app_wheel),
        )
        (staging / "RELEASE").write_text(f"{release_id(project)}\n{app_wheel.name}\n")
        archive(staging)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def archive(folder: Path) -> None:
    """wheelhouse.tar of every file in `folder`, sorted, with fixed owners and times."""

    def normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        info.mode = 0o644
        return info

    members = sorted(p for p in folder.iterdir() if p.is_file())
    with tarfile.open(folder / "wheelhouse.tar", "w") as tar:
        for path in members:
            tar.add(path, arcname=path.name, filter=normalized)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["release", "build"])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--python-version", default="3.11")
    parser.add_argument("--platform", action="append", default=[])
    args = parser.parse_args()
    project = args.project.resolve()
    if args.action == "release":
        print(release_id(project))
        return
    if args.output is None or not args.platform:
        parser.error("build needs --output and at least one --platform")
    build(project, args.output, args.python_version, args.platform)


if __name__ == "__main__":
    main()
