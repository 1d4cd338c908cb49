"""Keep student-derived text from steering a CI runner or a Markdown page.

GitHub Actions reads every line a step writes (stdout and stderr) for workflow
commands, in two forms (actions/runner, ActionCommand.cs):

- `::command args::data`: the line must start with `::` *after leading
  whitespace is trimmed* (so a leading space does not disarm it);
- the legacy `##[command args]data`: found *anywhere* in the line.

A student's exception message or printed text that reaches our output could
otherwise mask secrets, set outputs, forge annotations or `stop-commands` the
rest of the step. Every renderer whose text may reach a CI log passes it
through one of these:

- `neutralise_commands` for display text (terminal, Markdown, Classroom
  messages): a zero-width space goes between the two colons of a line-leading
  `::` and into every `##[`; what a reader sees is unchanged.
- `neutralise_json` / `neutralise_xml` for data formats: the same characters are
  written as JSON / XML escapes, so the parsed data is *exactly* what it was.
"""

from __future__ import annotations

import html
import re

ZWSP = "\u200b"

#: what ends a line for the runner (\n, \r) and, to be safe, everything Python calls a line break
_BREAKS = re.compile("(\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029])")
#: a line's lead-in the runner would trim (any Unicode space), and colour codes, then `::`
_LEAD = re.compile(r"^((?:[\s\u180e\ufeff]|\x1b\[[0-9;?]*[ -/]*[@-~])*):(?=:)")
_LEGACY = "##["


def neutralise_commands(text: str) -> str:
    """Display text with no line a CI runner would take for a workflow command."""
    if not text or ("::" not in text and _LEGACY not in text):
        return text
    text = text.replace(_LEGACY, "##" + ZWSP + "[")
    parts = _BREAKS.split(text)  # lines at even indices, their breaks at odd ones
    for i in range(0, len(parts), 2):
        parts[i] = _LEAD.sub(r"\1:" + ZWSP, parts[i], count=1)
    return "".join(parts)


def neutralise_json(text: str) -> str:
    """JSON text (as json.dumps writes it) whose decoded data is unchanged.

    `##[` only occurs inside strings, where `#` may be written `\\u0023`; the line breaks
    JSON leaves raw (U+0085, U+2028, U+2029) are escaped too, so no string starts a line.
    """
    text = text.replace(_LEGACY, "#\\u0023[")
    for char in ("\x85", "\u2028", "\u2029"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def neutralise_xml(text: str) -> str:
    """XML text (as ElementTree writes it) whose parsed data is unchanged.

    Markup never starts a line with `::` or holds `##[`, so both can only be character data,
    where `&#58;` and `&#35;` stand for `:` and `#`.
    """
    if "::" not in text and _LEGACY not in text:
        return text
    text = text.replace(_LEGACY, "#&#35;[")
    parts = _BREAKS.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = _LEAD.sub(r"\1&#58;", parts[i], count=1)
    return "".join(parts)


# -- Markdown (GitHub's job summary, PR comments) --------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&])")


def md_inline(text: str) -> str:
    """Text for a Markdown table cell or paragraph: shown literally, on one line."""
    text = " ".join(str(text).split())
    text = _MD_SPECIAL.sub(lambda m: html.escape(m.group(1)) if m.group(1) in "<>&" else "\\" + m.group(1), text)
    return neutralise_commands(text)


def html_text(text: str) -> str:
    """Text inside an HTML element of a Markdown page (e.g. <summary>): escaped, on one line."""
    return neutralise_commands(html.escape(" ".join(str(text).split()), quote=True))


def md_code_block(text: str, info: str = "text") -> str:
    """A fenced code block that no content can close early; shown literally."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{neutralise_commands(text.rstrip())}\n{fence}"
