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

A terminal obeys control characters too: `ESC ] 0 ; … BEL` sets the window's
title, `ESC ] 52 ; …` writes the clipboard, `ESC [ 2 J` clears the screen, a
bidirectional override reorders what is shown. `neutralise_controls` writes
each such character as a visible escape (`\x1b`, `\u202e`) in text and Markdown
output; `clean_strings` does it to every string of a report before a renderer
styles it (rich adds its own colour codes after).
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


#: control characters a terminal acts on (C0 but tab and newline, DEL, C1) and the bidirectional controls
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise_controls(text: str) -> str:
    """Text a terminal shows as it is: every control character (but tab and newline) as a visible escape."""
    if not text:
        return text
    # a carriage return would let a line overwrite what came before it: it ends the line instead
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub(_visible, text)


def terminal_text(text: str) -> str:
    """One line or message of student-derived text for a terminal or a CI log (stdout, stderr)."""
    return neutralise_commands(neutralise_controls(str(text)))


def clean_strings(value):
    """A copy of VALUE (dataclasses, lists, tuples, dicts, strings) with every string passed through
    `neutralise_controls`; anything else (numbers, arrays) is kept as it is."""
    import dataclasses

    if isinstance(value, str):
        return neutralise_controls(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: clean_strings(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [clean_strings(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean_strings(v) for v in value)
    if isinstance(value, dict):
        return {clean_strings(k): clean_strings(v) for k, v in value.items()}
    return value


def neutralise_json(text: str) -> str:
    """JSON text (as json.dumps writes it) whose decoded data is unchanged.

    `##[` only occurs inside strings, where `#` may be written `\\u0023`; the line breaks
    JSON leaves raw (U+0085, U+2028, U+2029) are escaped too, so no string starts a line.
    """
    text = text.replace(_LEGACY, "#\\u0023[")
    # and what json.dumps(ensure_ascii=False) leaves raw that a terminal acts on (DEL, C1 controls, bidi)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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
