"""Renderers: one result model, several formats. Each takes a Report and returns text."""

from __future__ import annotations

from typing import Callable

from adgrade.results import Report

FORMATS: dict[str, str] = {
    "text": "adgrade.report.terminal:render_text",
    "json": "adgrade.report.json_report:render_json",
    "gradescope": "adgrade.report.gradescope:render_gradescope",
    "junit": "adgrade.report.junit:render_junit",
    "csv": "adgrade.report.csv_report:render_csv",
    "markdown": "adgrade.report.markdown:render_markdown",
    "classroom": "adgrade.report.classroom:render_classroom",
    "html": "adgrade.report.html:render_html",
}


def renderer(fmt: str) -> Callable[[Report], str]:
    import importlib

    if fmt not in FORMATS:
        raise KeyError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    module, _, attr = FORMATS[fmt].partition(":")
    return getattr(importlib.import_module(module), attr)
