"""Facts about a student's function, read from its source (ast, symtable), never by running it.

Some mistakes never reach a call: the course's own starter `sgd_update`
refers to `gradients`, a name defined nowhere, and "updates" parameters with
`param -= lr * g` on the loop variable, which rebinds `param` and leaves the
caller's list as it was. A call may also fail earlier for another reason (the
starter's `grad_fun` belongs to another model) and hide both. These facts are
plain data handed to a problem set's judge (`static = NAME` on a check), who
words them for the course.

The parent reads the submission's cells itself (cells.py): nothing here comes
from the student's process.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from typing import Any

from adgrade.cells import PARSE_FAILURES, parsed_code_cells

__all__ = ["function_facts"]


def function_facts(cells: list[Any], name: str) -> dict[str, Any] | None:
    """Facts about the last top-level definition of function `name` in `cells` (code cells, in order).

    {"cell": label, "line": file line of the `def`,
     "undefined": [names the function reads as globals that no cell defines and are not builtins],
     "assigned": [the function's parameters and the names it assigns],
     "loop_updates": [{"name", "line", "code", "loop"}: augmented assignments (`p -= lr * g`) to a
                      for-loop's variable that is not read again afterwards in the loop],
     "returns_value": whether any `return` gives a value,
     "argument_rebinds": [{"name", "line", "code"}: assignments to one of its parameters (`params = ...`) in a
                          function that returns nothing: the caller never sees the new value]}
    None when no code cell defines `name` as a function (or none parses).
    """
    found = None
    module_names: set[str] = set()
    star_import = False
    for cell, tree in parsed_code_cells(cells):
        try:
            table = symtable.symtable(cell.source, "<cell>", "exec")
        except PARSE_FAILURES:
            continue
        for sym in table.get_symbols():
            if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
                module_names.add(sym.get_name())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                star_import = True
            if isinstance(node, ast.Global):  # `global x` inside a function defines x at module level
                module_names.update(node.names)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                found = (cell, node, table)
    if found is None:
        return None
    cell, node, table = found
    first_line = getattr(cell, "first_line", 1)
    returns_value = any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(node))
    return {
        "cell": getattr(cell, "label", ""),
        "line": first_line + node.lineno - 1,
        "undefined": [] if star_import else _undefined(table, node, module_names),
        "assigned": _assigned(table, node),
        "loop_updates": _loop_updates(node, cell.source, first_line),
        "returns_value": returns_value,
        "argument_rebinds": [] if returns_value else _argument_rebinds(node, cell.source, first_line),
    }


def _argument_rebinds(func: ast.AST, source: str, first_line: int) -> list[dict[str, Any]]:
    """`params = [...]` inside a function that returns nothing: a new local value the caller never sees."""
    args = {a.arg for a in func.args.args + func.args.posonlyargs + func.args.kwonlyargs}
    lines = source.splitlines()
    out = []
    for stmt in ast.walk(func):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(
            stmt, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id in args:
                out.append({"name": target.id, "line": first_line + stmt.lineno - 1, "code": _line(lines, stmt.lineno)})
    return out


def _function_table(module_table: symtable.SymbolTable, node: ast.AST) -> symtable.SymbolTable | None:
    return next((t for t in module_table.get_children()
                 if t.get_name() == node.name and t.get_lineno() == node.lineno), None)


def _assigned(module_table: symtable.SymbolTable, node: ast.AST) -> list[str]:
    """The function's own names: its parameters and what it assigns (for "did you mean")."""
    table = _function_table(module_table, node)
    if table is None:
        return []
    return sorted(s.get_name() for s in table.get_symbols() if s.is_parameter() or s.is_assigned())


def _undefined(module_table: symtable.SymbolTable, node: ast.AST, module_names: set[str]) -> list[str]:
    """Global names the function (and functions nested in it) read that nothing defines."""
    table = _function_table(module_table, node)
    if table is None:
        return []
    out: list[str] = []
    stack = [table]
    while stack:
        table = stack.pop()
        for sym in table.get_symbols():
            name = sym.get_name()
            if (sym.is_global() and sym.is_referenced() and not sym.is_assigned()
                    and name not in module_names and not hasattr(builtins, name) and name not in out):
                out.append(name)
        stack.extend(table.get_children())
    return sorted(out)


def _loop_updates(func: ast.AST, source: str, first_line: int) -> list[dict[str, Any]]:
    lines = source.splitlines()
    out = []
    for loop in ast.walk(func):
        if not isinstance(loop, (ast.For, ast.AsyncFor)):
            continue
        targets = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
        body = [n for stmt in loop.body for n in ast.walk(stmt)]
        for stmt in body:
            if not (isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name)
                    and stmt.target.id in targets):
                continue
            # read again later in the loop (appended to a new list, stored back by index): a real update
            read_later = any(isinstance(n, ast.Name) and n.id == stmt.target.id and isinstance(n.ctx, ast.Load)
                             and (n.lineno, n.col_offset) > (stmt.lineno, stmt.col_offset) for n in body)
            if read_later:
                continue
            out.append({
                "name": stmt.target.id,
                "line": first_line + stmt.lineno - 1,
                "code": _line(lines, stmt.lineno),
                "loop": _line(lines, loop.lineno).rstrip(":").strip(),
            })
    return out


def _line(lines: list[str], lineno: int) -> str:
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
