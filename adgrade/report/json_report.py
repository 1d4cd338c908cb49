"""The JSON report of shared/report-contract.md."""

from __future__ import annotations

import json

from adgrade.results import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
