"""Shared helpers: the real CLI in a subprocess, and paths of fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `adgrade ARGS` exactly as a user would (a fresh process, the installed entry point)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "adgrade.cli", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def run_json(*args: str, **kwargs) -> tuple[dict, subprocess.CompletedProcess]:
    proc = run_cli(*args, "--format", "json", **kwargs)
    assert proc.stdout.strip(), f"no JSON on stdout; stderr:\n{proc.stderr}"
    return json.loads(proc.stdout), proc


@pytest.fixture
def toy() -> Path:
    return FIXTURES / "toy"
