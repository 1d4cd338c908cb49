"""Every bundled problem set is sound: `adgrade validate` (analytic vs autodiff on all three
backends, the independent example values, and the reference graded to full marks)."""

from __future__ import annotations

import pytest

from conftest import ROOT, run_cli

ASSIGNMENTS = sorted(p.name for p in (ROOT / "problems").iterdir() if (p / "assignment.toml").is_file())


def test_the_five_course_assignments_are_bundled():
    assert {"jax-nn", "autodiff-exercises", "autograd-intro", "jax-objectives", "torch-backprop"} <= set(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate(assignment):
    proc = run_cli("validate", assignment, timeout=900)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{assignment}: valid" in out
    assert "reference" in out and "scores" in out
