"""Starter submissions: every entry stubbed, every question in its own marked cell.

Signatures come from the reference solution (read with `ast`, never run), so
the starter matches what the checks call; bodies are `raise
NotImplementedError`, which the report shows as "not implemented yet".
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from adgrade.cells import read_submission, top_level_definitions
from adgrade.spec import AssignmentSpec, ProblemSpec

STUB = "raise NotImplementedError  # your code here"


def reference_definitions(spec: AssignmentSpec) -> tuple[list[str], dict[str, ast.AST]]:
    """(import lines, the last top-level definition of each name) from the reference."""
    if spec.reference is None or not spec.reference.is_file():
        return [], {}
    imports, defs = top_level_definitions(read_submission(spec.reference))
    return list(dict.fromkeys(ast.unparse(node) for node in imports)), dict(defs)


def stub_for(name: str, node: ast.AST | None) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"def {name}({ast.unparse(node.args)}):\n    {STUB}\n"
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        lines = [f"class {name}({bases}):" if bases else f"class {name}:"]
        methods = [m for m in node.body if isinstance(m, ast.FunctionDef)]
        for m in methods:
            lines.append(f"    def {m.name}({ast.unparse(m.args)}):\n        {STUB}\n")
        if not methods:
            lines.append(f"    {STUB}")
        return "\n".join(lines) + "\n"
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        # a value the student chooses (e.g. parameter arrays): left undefined on purpose
        return f"# {name} = ...  # define {name} here\n"
    return f"def {name}(*args):\n    {STUB}\n"


def problem_text(problem: ProblemSpec) -> str:
    kind = " bonus" if problem.bonus else ""
    head = f"{problem.id}: {problem.title} ({problem.points:g}{kind} point{'s' if problem.points != 1 else ''})"
    body = textwrap.fill(problem.description, 88) if problem.description else ""
    return head + ("\n\n" + body if body else "")


def starter_cells(spec: AssignmentSpec) -> tuple[str, list[tuple[ProblemSpec, str]]]:
    """The set-up code, and (problem, code) for each problem in order."""
    imports, defs = reference_definitions(spec)
    setup = "\n".join(imports) + ("\n" if imports else "")
    # every question stubs all its entries, even one an earlier question defined: courses redefine
    # names per question (manual_grad in q1a and q1b) and each question is graded at its own end
    out = [(problem, "\n\n".join(stub_for(e, defs.get(e)) for e in problem.entries)) for problem in spec.problems]
    return setup, out


def _marker(problem: ProblemSpec) -> str:
    return problem.cells.markers[0] if problem.cells.markers else problem.id


def _comment(problem: ProblemSpec) -> str:
    return problem.cells.comments[0] if problem.cells.comments else problem.id


def starter_py(spec: AssignmentSpec) -> str:
    setup, cells = starter_cells(spec)
    parts = [f'"""{spec.title}: starter ({spec.name}).\n\nCheck your work with:  adgrade check THIS_FILE -a {spec.name}\n"""\n',
             "# %% setup\n" + setup]
    for problem, code in cells:
        text = "\n".join("# " + line if line else "#" for line in problem_text(problem).splitlines())
        parts.append(f"# %% {_marker(problem)}\n{text}\n\n{code}")
    return "\n\n".join(p.rstrip() + "\n" for p in parts)


def starter_notebook(spec: AssignmentSpec) -> str:
    import nbformat

    setup, cells = starter_cells(spec)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(
        f"# {spec.title}\n\nCheck your work with `adgrade check THIS_NOTEBOOK.ipynb -a {spec.name}`."))
    nb.cells.append(nbformat.v4.new_code_cell(setup.rstrip()))
    for problem, code in cells:
        heading = problem.cells.headings[0] if problem.cells.headings else f"{problem.id}: {problem.title}"
        desc = problem.description or ""
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## {heading}\n\n{desc}".rstrip()))
        nb.cells.append(nbformat.v4.new_code_cell(f"# {_comment(problem)}\n{code}".rstrip(),
                                                  metadata={"tags": [problem.id]}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def write_starter(spec: AssignmentSpec, path: Path) -> Path:
    text = starter_notebook(spec) if path.suffix == ".ipynb" else starter_py(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
