"""The JSON report of shared/report-contract.md (no CI workflow command in its text; the data unchanged)."""

from __future__ import annotations

import json

from adgrade.report.escape import neutralise_json
from adgrade.results import Report


def render_json(report: Report) -> str:
    return neutralise_json(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
