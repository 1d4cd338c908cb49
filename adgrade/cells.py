"""Reading a submission as cells.

A submission is a sequence of cells: a notebook's code and markdown cells, a
``.py`` split at jupytext/VS Code ``# %%`` markers, or a plain ``.py`` as one
code cell.  Which cells belong to which question is questions.py's job.

IPython syntax (magics, shell lines, ``f?`` help) is not Python: it is blanked
here, line for line, so the child process can ``compile`` each cell and report
errors at the student's own line numbers.  Stored notebook outputs are never
read.

This module imports no array framework and never executes student code.
"""

from __future__ import annotations

import ast
import io
import json
import re
import threading
import tokenize
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

__all__ = [
    "Cell",
    "SubmissionError",
    "read_submission",
    "MAX_SUBMISSION_BYTES",
]

SUFFIXES = (".py", ".ipynb")

#: The largest submission `check` and `grade` read (one limit for both; a notebook's stored
#: outputs count, and a zip member larger than this is never a submission either).
MAX_SUBMISSION_BYTES = 50 * 2**20


def too_large_message(name: str, size: int) -> str:
    """What a student reads when the file is over MAX_SUBMISSION_BYTES (check and grade alike)."""
    shown = f"{size / 2**20:.1f} MB"
    if shown == f"{MAX_SUBMISSION_BYTES / 2**20:.1f} MB":  # just over: "50.0 MB, over the 50 MB" would puzzle
        shown = f"{size:,} bytes"
    return (f"{name} is {shown}, over the {MAX_SUBMISSION_BYTES // 2**20} MB a submission may "
            "have, so it was not graded. A notebook is usually that large because of its stored outputs "
            "(images, printed arrays): clear them (Jupyter: Edit > Clear Outputs of All Cells), save, and "
            "submit it again.")


@dataclass
class Cell:
    """One cell of a submission.

    ``index`` is the cell's position in the list :func:`read_submission`
    returns (so ``cells[c.index] is c``); raw notebook cells are not in that
    list, but ``label`` still counts them, so "cell 7" is the seventh cell the
    student sees in Jupyter.
    """

    index: int
    kind: str  # "code" | "markdown"
    # code: the code to execute, IPython-only lines blanked (line numbers kept);
    # markdown: the text (for a .py cell the `# %% [markdown]` line is an empty
    # first line and the "# " prefixes are gone, so lines still map 1:1).
    source: str
    first_line: int  # 1-based file line of source's first line (.py); 1 for notebooks
    label: str  # ".py": "lines 12-30"; notebook: "cell 7"
    title: str = ""  # `# %% title` text (.py only)
    tags: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


class SubmissionError(Exception):
    """The submission cannot be read; the message names the file and what to do."""


#: how deeply a notebook's JSON may nest (a real notebook nests about 6 levels; json's own recursion
#: would otherwise end in a RecursionError, or a crash of the grader, on a hostile file)
MAX_JSON_DEPTH = 64

#: what parsing Python source can raise besides SyntaxError: a null byte (ValueError), an expression
#: nested too deeply for the parser (MemoryError "parser stack overflow", RecursionError)
PARSE_FAILURES = (SyntaxError, ValueError, MemoryError, RecursionError)


#: CPython 3.11's conversion of a parse tree into `ast` objects keeps its recursion depth in state
#: shared by every thread: two threads parsing at once (a Dask executor's workers) can fail with
#: "SystemError: AST constructor recursion depth mismatch". Every parse in the grader's process
#: goes through this lock.
_PARSE_LOCK = threading.Lock()


def parse_source(source: str, filename: str = "<unknown>") -> ast.Module | None:
    """`ast.parse`, or None when the source cannot be parsed for any reason (never raises).

    For reading a submission's code before running it (guessing, picking a candidate file,
    static analysis): a hostile file (`x = ----...1`, 100,000 levels deep) must cost its own
    student at most, never the grader. Safe to call from several threads at once.
    """
    try:
        with _PARSE_LOCK:
            return ast.parse(source, filename)
    except PARSE_FAILURES:
        return None


def parsed_code_cells(cells: Iterable) -> Iterator[tuple[Any, ast.Module]]:
    """(cell, its tree) for each code cell that parses (cells.Cell or alike: kind, source), in order."""
    for cell in cells:
        if getattr(cell, "kind", "code") != "code":
            continue
        tree = parse_source(cell.source)
        if tree is not None:
            yield cell, tree


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> int | None:
    """The (0-based) character offset where JSON text nests deeper than `limit`, or None.

    Linear (string literals blanked by a regular expression first, then only brackets counted),
    so a deep file is refused before `json.loads` recurses into it.
    """
    blanked = _JSON_STRING.sub(lambda m: '""'.ljust(len(m.group()), " "), text)
    depth = 0
    for m in _JSON_BRACKET.finditer(blanked):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return m.start()
        else:
            depth -= 1
    return None


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


# --------------------------------------------------------------------------- reading


def read_submission(path: str | Path) -> list[Cell]:
    """Read a ``.py`` or ``.ipynb`` submission as a list of cells."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SubmissionError(
            f"{path}: cannot grade a {suffix or 'suffix-less'} file; submit a Python "
            "file (.py) or a Jupyter notebook (.ipynb)."
        )
    if not path.exists():
        raise SubmissionError(f"{path}: no such file. Check the path of the submission.")
    if path.is_dir():
        raise SubmissionError(f"{path}: is a folder; pass the submission file itself (.py or .ipynb).")
    try:
        if not path.is_file():  # a pipe or a device: reading it could block forever, or never end
            raise SubmissionError(f"{path}: not a plain file; pass the submission file itself (.py or .ipynb).")
        size = path.stat().st_size
        if size > MAX_SUBMISSION_BYTES:
            raise SubmissionError(too_large_message(str(path), size))
        data = path.read_bytes()
    except OSError as exc:
        raise SubmissionError(
            f"{path}: cannot read the file ({exc.strerror or exc}). Check that it is readable."
        ) from exc
    try:
        text = _decode_py(data, path) if suffix == ".py" else _decode(data, "utf-8-sig", path, "")
        if suffix == ".py":
            return _read_py(text)
        return _read_notebook(text, path)
    except SubmissionError:
        raise
    except (MemoryError, RecursionError) as exc:
        # bounded above; this is the backstop, so that no file ever crashes the grader
        raise SubmissionError(
            f"{path}: cannot be read: it is nested too deeply or too large to process "
            f"({type(exc).__name__}). Submit the file the assignment asks for."
        ) from None
    except Exception as exc:  # whatever else a hostile file finds: its student's problem, never the batch's
        raise SubmissionError(
            f"{path}: cannot be read ({type(exc).__name__}: {str(exc)[:200]}). Save it again as a plain "
            "UTF-8 .py file or a notebook from Jupyter, and submit it again."
        ) from None


def _decode_py(data: bytes, path: Path) -> str:
    """A .py file's text as Python reads it: UTF-8 unless a PEP 263 coding line says otherwise; a
    UTF-8 byte-order mark is skipped (tokenize.detect_encoding is the interpreter's own rule)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown encoding, or a BOM with a coding line that is not utf-8
        raise SubmissionError(
            f"{path}: Python cannot read this file: {exc.msg if hasattr(exc, 'msg') else exc}. Fix the "
            "`# -*- coding: ... -*-` line on line 1 or 2 (or delete it and save the file as UTF-8), "
            "then submit it again."
        ) from exc
    declared = "" if encoding in ("utf-8", "utf-8-sig") else encoding
    return _decode(data, encoding, path, declared)


def _decode(data: bytes, encoding: str, path: Path, declared: str) -> str:
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeError) as exc:
        if not isinstance(exc, UnicodeDecodeError):
            # a coding line naming a codec that is not a text encoding (rot13, zlib_codec, punycode...)
            raise SubmissionError(
                f"{path}: Python cannot read this file as {declared or encoding} ({exc}). Fix the "
                "`# -*- coding: ... -*-` line on line 1 or 2 (or delete it and save the file as UTF-8), "
                "then submit it again."
            ) from None
        line = data[: exc.start].count(b"\n") + 1
        if declared:
            raise SubmissionError(
                f"{path}: not {declared} text as its coding line says (byte 0x{data[exc.start]:02x} on line "
                f"{line}). Fix the coding line, or save the file as UTF-8 without it, and submit it again."
            ) from exc
        raise SubmissionError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}). "
            "Save the file with UTF-8 encoding and submit it again (or declare its encoding on the "
            "first line, e.g. `# -*- coding: latin-1 -*-`)."
        ) from exc


def split_lines(text: str) -> list[str]:
    # Not str.splitlines(): it also splits at \x0c, \x1c, \u2028 ..., which
    # Python's tokenizer does not treat as line ends; line numbers would drift.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline does not start another line
    return lines


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


# `# %%`, `#%%`, `#  %%` at column 0 (jupytext percent format, VS Code, Spyder).
CELL_MARKER = re.compile(r"^#\s*%%(?P<rest>.*)$")
# jupytext writes the cell type in brackets after an optional title.
_CELL_TYPE = re.compile(r"\[(?P<type>markdown|md|raw)\]", re.IGNORECASE)
# jupytext cell metadata after the title, e.g. `tags=["q1a", "graded"]`.
_TAGS_META = re.compile(r"\btags\s*=\s*(?P<json>\[[^\]]*\])")


def _parse_marker(rest: str) -> tuple[str, str, tuple[str, ...]]:
    """``# %%`` marker text after ``%%`` -> (kind, title, tags)."""
    kind = "code"
    m = _CELL_TYPE.search(rest)
    if m:
        kind = "raw" if m.group("type").lower() == "raw" else "markdown"
        rest = rest[: m.start()] + rest[m.end() :]
    tags: tuple[str, ...] = ()
    m = _TAGS_META.search(rest)
    if m:
        try:
            parsed = json.loads(m.group("json"))
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            tags = tuple(str(t) for t in parsed)
            rest = rest[: m.start()] + rest[m.end() :]
    return kind, " ".join(rest.split()), tags


def _py_label(first_line: int, lines: list[str]) -> str:
    # Trailing blank lines before the next marker are not worth naming.
    n = len(lines)
    while n > 1 and not lines[n - 1].strip():
        n -= 1
    last = first_line + max(n, 1) - 1
    return f"line {first_line}" if last == first_line else f"lines {first_line}-{last}"


def _read_py(text: str) -> list[Cell]:
    lines = split_lines(text)
    starts = [i for i, line in enumerate(lines) if CELL_MARKER.match(line)]
    # (first line index, lines, marker text or None for text before any marker)
    chunks: list[tuple[int, list[str], str | None]] = []
    if not starts:
        chunks.append((0, lines, None))
    else:
        head = lines[: starts[0]]
        if any(line.strip() for line in head):
            chunks.append((0, head, None))
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            m = CELL_MARKER.match(lines[start])
            assert m is not None
            chunks.append((start, lines[start:end], m.group("rest")))

    cells: list[Cell] = []
    for start, chunk, marker in chunks:
        kind, title, tags = _parse_marker(marker) if marker is not None else ("code", "", ())
        if kind == "raw":
            continue  # raw cells are not run, and carry no headings
        first_line = start + 1
        label = _py_label(first_line, chunk)
        if kind == "markdown":
            # The marker line becomes an empty first line, so markdown line k
            # is still file line first_line + k - 1.
            body = [""] + [_uncomment(line) for line in chunk[1:]]
            cells.append(Cell(len(cells), "markdown", _join(body), first_line, label, title, tags))
            continue
        new_lines, notes = _blank_ipython(
            chunk, line_number=lambda k, base=first_line: base + k, has_marker=marker is not None
        )
        cells.append(Cell(len(cells), "code", _join(new_lines), first_line, label, title, tags, notes))
    if not cells:  # an empty file is still one (empty) code cell
        cells.append(Cell(0, "code", "", 1, "line 1"))
    return cells


def _uncomment(line: str) -> str:
    """A line of a ``# %% [markdown]`` cell -> markdown text."""
    if line.startswith("# "):
        return line[2:]
    if line.startswith("#"):
        return line[1:]
    return line


def _read_notebook(text: str, path: Path) -> list[Cell]:
    hint = "Open it in Jupyter and save it again, or submit the code as a .py file."
    deep = json_depth_exceeds(text)
    if deep is not None:
        line = text.count("\n", 0, deep) + 1
        raise SubmissionError(
            f"{path}: not a valid Jupyter notebook: its JSON nests more than {MAX_JSON_DEPTH} levels deep "
            f"(line {line}). {hint}"
        )
    try:
        raw = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise SubmissionError(f"{path}: not a valid Jupyter notebook: the file is not JSON{where}. {hint}") from exc
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise SubmissionError(f"{path}: not a Jupyter notebook: the JSON has no cells. {hint}")

    import nbformat  # only notebooks need it

    nb_cells: list
    try:
        with warnings.catch_warnings():
            # nbformat warns about schema details (missing ids, ...) it repairs itself.
            warnings.simplefilter("ignore")
            nb_cells = list(nbformat.reads(text, as_version=4).get("cells", []))
    except Exception as exc:  # nbformat raises many kinds for malformed notebooks
        # A version-4 notebook that breaks the schema in a small way (a cell
        # without "metadata", as some generators write) is still readable.
        raw_cells = raw.get("cells")
        if raw.get("nbformat") == 4 and isinstance(raw_cells, list) and all(isinstance(c, dict) for c in raw_cells):
            nb_cells = raw_cells
        else:
            raise SubmissionError(f"{path}: not a valid Jupyter notebook ({exc}). {hint}") from exc

    cells: list[Cell] = []
    for number, nb_cell in enumerate(nb_cells, start=1):
        kind = nb_cell.get("cell_type")
        if kind not in ("code", "markdown"):
            continue  # raw cells (and anything unknown) are neither run nor read
        source = nb_cell.get("source", "")
        if isinstance(source, list):  # joined by nbformat, not in the fallback above
            source = "".join(str(s) for s in source)
        metadata = nb_cell.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        raw_tags = metadata.get("tags") or []
        tags = tuple(str(t) for t in raw_tags) if isinstance(raw_tags, list) else ()
        label = f"cell {number}"
        if kind == "markdown":
            cells.append(Cell(len(cells), "markdown", str(source), 1, label, "", tags))
            continue
        new_lines, notes = _blank_ipython(split_lines(str(source)), line_number=lambda k: k + 1, has_marker=False)
        cells.append(Cell(len(cells), "code", _join(new_lines), 1, label, "", tags, notes))
    return cells


# ------------------------------------------------------------------ IPython syntax


class _LineScanner:
    """Tracks, line by line, whether the next line starts a new Python statement.

    A line starts a statement unless it is inside a string (triple-quoted, or a
    single-quoted one continued with a backslash), inside brackets, or after a
    backslash continuation.  Only such lines can be IPython syntax: a line
    ``%d items`` inside a docstring or ``% b`` inside parentheses is Python.
    (The tokenize module would do this too, but it stops at the first line it
    cannot tokenize, and IPython lines such as ``!echo "it's"`` are exactly that.)
    """

    def __init__(self) -> None:
        self.quote: str | None = None  # the open string's delimiter: ' " ''' """
        self.depth = 0  # open brackets
        self.continued = False  # previous line ended with a backslash

    def at_statement_start(self) -> bool:
        return self.quote is None and self.depth == 0 and not self.continued

    def feed(self, line: str) -> None:
        self.continued = False
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if self.quote is not None:
                if c == "\\":
                    if i == n - 1:
                        return  # backslash-newline inside a string: it goes on
                    i += 2
                elif line.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                else:
                    i += 1
                continue
            if c == "#":
                break  # comment to the end of the line
            if c in "'\"":
                self.quote = line[i : i + 3] if line[i : i + 3] in ('"""', "'''") else c
                i += len(self.quote)
                continue
            if c in "([{":
                self.depth += 1
            elif c in ")]}":
                self.depth = max(0, self.depth - 1)
            elif c == "\\" and i == n - 1:
                self.continued = True
            i += 1
        if self.quote is not None and len(self.quote) == 1:
            # An unterminated '...' string is a syntax error Python will report;
            # do not let it swallow the rest of the cell here.
            self.quote = None


# `x = !ls`, `a, b = %sx ls`, `x = %time f()` (IPython's own left-hand side rule).
_ASSIGN_ESCAPE = re.compile(r"^(?P<lhs>\s*[\w.]+(?:\s*,\s*[\w.]+)*)\s*=\s*(?P<esc>[!%])(?P<rest>.*)$")
# `f?`, `np.sum??`, `?f`, `np.*sum*?`
_HELP = re.compile(r"^\s*(?:\?{1,2}\s*[\w.*\[\]]+|[\w.*\[\]]+\s*\?{1,2})\s*$")
# Cell magics that run their body in the user's namespace: drop the magic
# line, run the body.  Every other cell magic (%%bash, %%timeit, %%writefile,
# %%html, ...) runs something that is not this Python, so the cell is skipped.
_TRANSPARENT_CELL_MAGICS = {"time", "capture"}


def _magic_name(text: str) -> str:
    """``'%%time -o x'`` -> ``'time'``."""
    m = re.match(r"%{1,2}\s*([\w.]*)", text)
    return m.group(1) if m else ""


def _short(text: str, limit: int = 60) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _replacement(line: str) -> str:
    """What a dropped line becomes: empty, or ``pass`` where an indented block
    might otherwise be left empty (``for ...:`` followed only by ``%timeit f()``)."""
    indent = line[: len(line) - len(line.lstrip())]
    return f"{indent}pass" if indent else ""


def _blank_ipython(
    lines: list[str], line_number: Callable[[int], int], has_marker: bool
) -> tuple[list[str], list[str]]:
    """Blank IPython-only lines of one code cell; return (new lines, notes).

    ``line_number(k)`` gives the number to show for the cell's k-th line (0-based).
    ``has_marker``: the first line is the cell's ``# %%`` marker (a comment).
    """
    out = list(lines)
    notes: list[str] = []
    body_start = 1 if has_marker else 0

    # A cell magic must be the first line of the cell (after blank lines).
    first = next((k for k in range(body_start, len(lines)) if lines[k].strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()
        if _magic_name(magic) in _TRANSPARENT_CELL_MAGICS:
            out[first] = ""
            notes.append(
                f"ran the cell without IPython cell magic on line {line_number(first)}: {_short(magic)}"
            )
            body_start = first + 1
        else:
            for k in range(body_start, len(out)):
                out[k] = ""
            notes.append(
                f"skipped the whole cell: IPython cell magic on line {line_number(first)}: {_short(magic)}"
            )
            return out, notes

    scanner = _LineScanner()
    for k in range(body_start, len(lines)):
        line = lines[k]
        if not scanner.at_statement_start():
            scanner.feed(line)
            continue
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        note: str | None = None
        new_line: str | None = None  # None: drop the line

        assign = _ASSIGN_ESCAPE.match(line)
        if stripped.startswith("%"):
            # `%time stmt` runs stmt in the user's namespace: keep stmt.
            name = _magic_name(stripped)
            rest = stripped[1 + len(name) :].strip() if not stripped.startswith("%%") else ""
            if name == "time" and rest:
                new_line = indent + rest
                note = f"ran the statement without IPython magic %time on line {line_number(k)}: {_short(stripped)}"
            else:
                note = f"skipped IPython magic on line {line_number(k)}: {_short(stripped)}"
        elif stripped.startswith("!"):
            note = f"skipped shell command on line {line_number(k)}: {_short(stripped)}"
        elif assign is not None:
            esc, rest = assign.group("esc"), assign.group("rest").strip()
            name = _magic_name(esc + rest) if esc == "%" else ""
            if name == "time" and rest[len(name) :].strip():
                # `x = %time f()` assigns f()'s value in IPython.
                new_line = f"{assign.group('lhs')} = {rest[len(name):].strip()}"
                note = f"ran the statement without IPython magic %time on line {line_number(k)}: {_short(stripped)}"
            elif esc == "!":
                note = f"skipped shell command on line {line_number(k)}: {_short(stripped)}"
            else:
                note = f"skipped IPython magic on line {line_number(k)}: {_short(stripped)}"
        elif _HELP.match(line):
            note = f"skipped IPython help on line {line_number(k)}: {_short(stripped)}"

        if note is None:
            scanner.feed(line)
            continue
        notes.append(note)
        if new_line is None:
            out[k] = _replacement(line)
        else:
            out[k] = new_line
            scanner.feed(new_line)
    return out, notes


# -- reading definitions without running anything ----------------------------------------------

def top_level_definitions(cells: list[Cell]) -> tuple[list[ast.stmt], dict[str, ast.stmt]]:
    """(import statements, the last top-level statement defining each name) of the code cells.

    Cells that do not parse are passed over: this is for guessing and starters, never for grading.
    """
    imports: list[ast.stmt] = []
    defs: dict[str, ast.stmt] = {}
    for cell in cells:
        if cell.kind != "code":
            continue
        tree = parse_source(cell.source)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            defs[sub.id] = node
    return imports, defs
