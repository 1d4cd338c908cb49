"""Tests for adgrade.cells (reading submissions as cells) and adgrade.questions (finding question cells)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from adgrade.cells import Cell, SubmissionError, read_submission
from adgrade.questions import QuestionMatcher, assign_questions, question_ends


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def write_notebook(tmp_path: Path, cells: list, name: str = "sub.ipynb") -> Path:
    nb = new_notebook(cells=cells)
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def code_lines(cell: Cell) -> list[str]:
    return cell.source.split("\n")


# The jax-nn assignment's matchers, as problems/jax-nn/assignment.toml declares them.
JAX_NN = [
    QuestionMatcher(
        "q1a", markers=("q1a",), comments=("Q1a",), headings=("(a) Univariate Function Gradient",), tags=("q1a",)
    ),
    QuestionMatcher(
        "q1b", markers=("q1b",), comments=("Q1b",), headings=("(b) Multivariate Function Gradient",), tags=("q1b",)
    ),
    QuestionMatcher(
        "q1b-hessian",
        markers=("q1b-hessian",),
        comments=("Q1b-hessian",),
        headings=("computes the Hessian matrix",),
        tags=("q1b-hessian",),
    ),
    QuestionMatcher(
        "q1c",
        markers=("q1c",),
        comments=("Q1c",),
        headings=("(c) Soft-Max Regression and Neural Networks",),
        tags=("q1c",),
    ),
    QuestionMatcher(
        "q1d",
        markers=("q1d",),
        comments=("Q1d",),
        headings=("(d) Neural Network Parameters and Gradient",),
        tags=("q1d",),
    ),
]
JAX_NN_IDS = [m.id for m in JAX_NN]


# ----------------------------------------------------------------------------- .py


def test_plain_py_is_one_code_cell(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sub.py",
        """
        import jax

        def manual_grad(x):
            return x
        """,
    )
    cells = read_submission(path)
    assert len(cells) == 1
    (cell,) = cells
    assert (cell.index, cell.kind, cell.first_line, cell.title) == (0, "code", 1, "")
    assert cell.source == "import jax\n\ndef manual_grad(x):\n    return x\n"
    assert cell.label == "lines 1-4"
    assert cell.notes == []


def test_py_percent_cells_titles_markdown_and_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sub.py",
        """
        import jax.numpy as jnp

        # %% [markdown]
        # ## (a) Univariate Function Gradient
        # Some prose.

        # %% q1a Univariate gradient
        def manual_grad(x):
            return x

        #%%
        y = 1
        # %% q1c tags=["graded", "q1c"]
        z = 2
        """,
    )
    cells = read_submission(path)
    assert [c.kind for c in cells] == ["code", "markdown", "code", "code", "code"]
    assert [c.index for c in cells] == [0, 1, 2, 3, 4]
    assert [c.first_line for c in cells] == [1, 3, 7, 11, 13]
    assert [c.title for c in cells] == ["", "", "q1a Univariate gradient", "", "q1c"]
    assert cells[4].tags == ("graded", "q1c")

    head, md, q1a, plain, q1c = cells
    assert head.source == "import jax.numpy as jnp\n\n"
    assert head.label == "line 1"
    # Markdown: the "# " prefixes are gone, the marker line is an empty first line.
    assert md.source == "\n## (a) Univariate Function Gradient\nSome prose.\n\n"
    assert md.label == "lines 3-5"
    # The marker line stays in a code cell (as a comment), so line k of the
    # source is line first_line + k - 1 of the file.
    assert code_lines(q1a)[0] == "# %% q1a Univariate gradient"
    assert code_lines(q1a)[1] == "def manual_grad(x):"
    assert q1a.label == "lines 7-9"
    assert plain.source == "#%%\ny = 1\n"
    assert plain.label == "lines 11-12"

    file_lines = path.read_text().split("\n")
    for cell in cells:
        if cell.kind == "code":
            for k, line in enumerate(code_lines(cell)[:-1]):
                assert line == file_lines[cell.first_line - 1 + k]


def test_py_blank_text_before_first_marker_is_not_a_cell(tmp_path: Path) -> None:
    path = tmp_path / "sub.py"
    path.write_text("\n  \n# %%\nx = 1\n# %% [raw]\nnot python\n# %%\ny = 2\n")
    cells = read_submission(path)
    # The raw cell is neither run nor listed; indexes stay list positions.
    assert [(c.index, c.first_line, c.source) for c in cells] == [(0, 3, "# %%\nx = 1\n"), (1, 7, "# %%\ny = 2\n")]


def test_py_crlf_and_bom_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "sub.py"
    path.write_bytes("\ufeffa = 1\r\n# %% q1a\r\nb = 2\r\n".encode("utf-8"))
    cells = read_submission(path)
    assert [(c.first_line, c.source) for c in cells] == [(1, "a = 1\n"), (2, "# %% q1a\nb = 2\n")]


def test_empty_py_is_one_empty_code_cell(tmp_path: Path) -> None:
    cells = read_submission(write(tmp_path, "sub.py", ""))
    assert [(c.kind, c.source, c.label) for c in cells] == [("code", "", "line 1")]


# ------------------------------------------------------------------------ notebook


def test_notebook_cells(tmp_path: Path) -> None:
    out = nbformat.v4.new_output("stream", name="stdout", text="trust me, it passed\n")
    path = write_notebook(
        tmp_path,
        [
            new_markdown_cell("# Homework"),
            new_code_cell("import jax\nx = 1", outputs=[out], execution_count=3),
            new_raw_cell("raw text"),
            new_code_cell("y = 2", metadata={"tags": ["q1a", "graded"]}),
        ],
    )
    cells = read_submission(path)
    assert [(c.index, c.kind, c.label) for c in cells] == [
        (0, "markdown", "cell 1"),
        (1, "code", "cell 2"),
        # the raw cell is dropped, but labels count it: Jupyter shows it as cell 3
        (2, "code", "cell 4"),
    ]
    assert cells[0].source == "# Homework"
    assert cells[1].source == "import jax\nx = 1\n"
    assert all(c.first_line == 1 for c in cells)
    assert cells[2].tags == ("q1a", "graded")
    assert "trust me" not in "".join(c.source for c in cells)  # stored outputs ignored


# -------------------------------------------------------------------------- magics


def test_magics_and_shell_lines_are_blanked_with_notes(tmp_path: Path) -> None:
    source = textwrap.dedent(
        '''
        %matplotlib inline
        !pip install jax
        files = !ls
        x = %timeit -o f()
        np.sum?
        a = 7 % 3
        if a != 2:
            print("!x", 'it\\'s')
        doc = """
        %d items
        !not a shell line
        """
        v = (1
        % 2)
        # just a comment?
        print("why?")
        '''
    ).lstrip("\n")
    path = write_notebook(tmp_path, [new_code_cell(source)])
    (cell,) = read_submission(path)
    lines = code_lines(cell)
    assert len(lines) == len(source.split("\n"))  # line numbers unchanged
    assert lines[:5] == ["", "", "", "", ""]
    assert lines[5:] == source.split("\n")[5:]  # ordinary code, strings, comments untouched
    assert cell.notes == [
        "skipped IPython magic on line 1: %matplotlib inline",
        "skipped shell command on line 2: !pip install jax",
        "skipped shell command on line 3: files = !ls",
        "skipped IPython magic on line 4: x = %timeit -o f()",
        "skipped IPython help on line 5: np.sum?",
    ]
    compile(cell.source, "cell", "exec")  # what is left is Python


def test_magic_notes_use_file_line_numbers_in_py(tmp_path: Path) -> None:
    path = write(tmp_path, "sub.py", "x = 1\n# %%\ny = 2\n%timeit y\n")
    cells = read_submission(path)
    assert cells[1].notes == ["skipped IPython magic on line 4: %timeit y"]
    assert cells[1].source == "# %%\ny = 2\n\n"


def test_time_magic_keeps_the_statement(tmp_path: Path) -> None:
    # %time runs its statement in the user's namespace, so what it defines must exist.
    src = "%time params = init()\nloss = %time compute(params)\nfor i in range(3):\n    %timeit step()\n"
    (cell,) = read_submission(write_notebook(tmp_path, [new_code_cell(src)]))
    assert code_lines(cell)[:4] == ["params = init()", "loss = compute(params)", "for i in range(3):", "    pass"]
    assert len(cell.notes) == 3
    assert "%time" in cell.notes[0] and "line 1" in cell.notes[0]
    compile(cell.source, "cell", "exec")


def test_cell_magic_skips_the_whole_cell(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path,
        [
            new_code_cell("\n%%bash\necho hi\nls -l"),
            new_code_cell("%%timeit\nf(x)"),
            new_code_cell("%%time\nparams = train()\n%time g()"),
        ],
    )
    bash, timeit, timed = read_submission(path)
    assert bash.source == "\n\n\n\n"
    assert bash.notes == ["skipped the whole cell: IPython cell magic on line 2: %%bash"]
    assert timeit.source == "\n\n"
    # %%time runs its body in the user's namespace: only the magic line goes.
    assert code_lines(timed)[:3] == ["", "params = train()", "g()"]
    assert len(timed.notes) == 2


def test_cell_magic_after_py_marker(tmp_path: Path) -> None:
    path = write(tmp_path, "sub.py", "# %% setup\n%%bash\npip install jax\n")
    (cell,) = read_submission(path)
    assert cell.source == "# %% setup\n\n\n"
    assert cell.notes == ["skipped the whole cell: IPython cell magic on line 2: %%bash"]


# -------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nothere.py"
    with pytest.raises(SubmissionError, match="no such file") as info:
        read_submission(path)
    assert str(path) in str(info.value)


def test_wrong_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "answers.txt", "x = 1\n")
    with pytest.raises(SubmissionError) as info:
        read_submission(path)
    assert str(path) in str(info.value)
    assert ".py" in str(info.value) and ".ipynb" in str(info.value)


def test_bad_json_notebook(tmp_path: Path) -> None:
    path = write(tmp_path, "sub.ipynb", '{"cells": [ {"cell_type": "code",')
    with pytest.raises(SubmissionError, match="not JSON") as info:
        read_submission(path)
    assert str(path) in str(info.value)


def test_json_that_is_not_a_notebook(tmp_path: Path) -> None:
    path = tmp_path / "sub.ipynb"
    path.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(SubmissionError, match="not a Jupyter notebook") as info:
        read_submission(path)
    assert str(path) in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sub.py"
    path.write_bytes(b"x = 1\ny = '\xe9'\n")
    with pytest.raises(SubmissionError, match="UTF-8") as info:
        read_submission(path)
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "sub.py"
    folder.mkdir()
    with pytest.raises(SubmissionError, match="folder"):
        read_submission(folder)


# ----------------------------------------------------------------------- questions


def jax_nn_notebook() -> list:
    """The course notebook's layout, cut down."""
    return [
        new_markdown_cell("# Homework 3: Autograd\nRead everything first."),  # 0
        new_code_cell("import jax\nimport jax.numpy as jnp"),  # 1
        new_markdown_cell("## (a) Univariate Function Gradient (5 points)\nCompute f'(x) by hand."),  # 2
        new_code_cell("# Q1a.\ndef manual_grad(x):\n    return x"),  # 3
        new_code_cell("print(manual_grad(3.5))"),  # 4
        new_markdown_cell("Some prose between questions."),  # 5
        new_markdown_cell("## (b) Multivariate Function Gradient (5 points)"),  # 6
        new_code_cell("def manual_grad(x):\n    return 3 * x"),  # 7
        new_markdown_cell(
            "### Implement a function that computes the Hessian matrix for the given function (2 Bonus points)"
        ),  # 8
        new_code_cell("def hessian_manual(f, x):\n    pass"),  # 9
        new_markdown_cell("## (c) Soft-Max Regression and Neural Networks (15 points)"),  # 10
        new_code_cell("# Q1c.\ndef predict_nn(params, inputs):\n    pass"),  # 11
        new_code_cell("def loss_fun(params, X, y):\n    pass"),  # 12
        new_markdown_cell("## (d) Neural Network Parameters and Gradient (15 points)"),  # 13
        new_code_cell("# Q1d\nW1 = b1 = W2 = b2 = None"),  # 14
    ]


def test_jax_nn_heading_layout(tmp_path: Path) -> None:
    cells = read_submission(write_notebook(tmp_path, jax_nn_notebook()))
    assignment = assign_questions(cells, JAX_NN)
    assert assignment == {
        1: None,
        3: "q1a",
        4: "q1a",
        7: "q1b",
        9: "q1b-hessian",  # nested under (b)
        11: "q1c",  # (c) closes both (b) and the Hessian section
        12: "q1c",
        14: "q1d",
    }
    assert question_ends(cells, assignment, JAX_NN_IDS) == {
        "q1a": 4,
        "q1b": 7,
        "q1b-hessian": 9,
        "q1c": 12,
        "q1d": 14,
    }


def test_jax_nn_headings_in_py_markdown_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sub.py",
        """
        import jax
        # %% [markdown]
        # ## (b) Multivariate Function Gradient (5 points)
        # %%
        def manual_grad(x): return x
        # %% [markdown]
        # ### Implement a function that computes the Hessian matrix for the given function (2 Bonus points)
        # %%
        def hessian_manual(f, x): pass
        # %% [markdown]
        # ## (c) Soft-Max Regression and Neural Networks (15 points)
        # %%
        def predict_nn(params, inputs): pass
        """,
    )
    cells = read_submission(path)
    assert assign_questions(cells, JAX_NN) == {0: None, 2: "q1b", 4: "q1b-hessian", 6: "q1c"}


def test_nested_section_closed_by_unmatched_heading_falls_back() -> None:
    def md(i: int, text: str) -> Cell:
        return Cell(i, "markdown", text, 1, f"cell {i + 1}")

    def code(i: int) -> Cell:
        return Cell(i, "code", "x = 1\n", 1, f"cell {i + 1}")

    cells = [
        md(0, "## (b) Multivariate Function Gradient"),
        code(1),
        md(2, "### Implement a function that computes the Hessian matrix"),
        code(3),
        md(4, "#### Hint"),  # deeper, matches nothing: still the Hessian
        code(5),
        md(6, "### Testing your gradient"),  # closes the Hessian section: back to (b)
        code(7),
        md(8, "## Appendix"),  # same level as (b), matches nothing: closes (b)
        code(9),
        md(10, "Some text\n\n(a) Univariate Function Gradient\n============================"),  # setext h1
        code(11),
        md(12, "```\n## (c) Soft-Max Regression and Neural Networks\n```\n#hashtag prose"),  # no headings
        code(13),
    ]
    assert assign_questions(cells, JAX_NN) == {
        1: "q1b",
        3: "q1b-hessian",
        5: "q1b-hessian",
        7: "q1b",
        9: None,
        11: "q1a",
        13: "q1a",
    }


def test_heading_match_ignores_case_spacing_and_emphasis() -> None:
    cells = [
        Cell(0, "markdown", "##   **(A)  univariate   function gradient** (5 pts)", 1, "cell 1"),
        Cell(1, "code", "x = 1\n", 1, "cell 2"),
    ]
    assert assign_questions(cells, JAX_NN) == {1: "q1a"}


@pytest.mark.parametrize(
    "first_line, expected",
    [
        ("# Q1a.", "q1a"),
        ("# Q1a:", "q1a"),
        ("#q1a", "q1a"),
        ("# Q1a - implement manual_grad", "q1a"),
        ("   #  q1A.  manual gradient", "q1a"),
        ("# Q1d", "q1d"),
        ("# Q1b-hessian", "q1b-hessian"),  # not q1b
        ("# Q1ab", None),
        ("# See Q1a", None),
        ("x = 1  # Q1a.", None),  # not a comment line
    ],
)
def test_comment_matching(first_line: str, expected: str | None) -> None:
    cells = [Cell(0, "code", f"\n{first_line}\ny = 2\n", 1, "cell 1")]
    assert assign_questions(cells, JAX_NN) == {0: expected}


def test_only_the_first_comment_line_counts() -> None:
    cells = [Cell(0, "code", "# helper for later\n# Q1a.\nx = 1\n", 1, "cell 1")]
    assert assign_questions(cells, JAX_NN) == {0: None}


def test_markers_and_tags(tmp_path: Path) -> None:
    path = write(tmp_path, "sub.py", "# %% Q1C: predict\nx = 1\n# %% q1b-hessian\ny = 2\n# %% q1\nz = 3\n")
    cells = read_submission(path)
    assert assign_questions(cells, JAX_NN) == {0: "q1c", 1: "q1b-hessian", 2: None}

    nb = write_notebook(
        tmp_path,
        [new_code_cell("x = 1", metadata={"tags": ["Q1D"]}), new_code_cell("y = 2", metadata={"tags": ["other"]})],
    )
    assert assign_questions(read_submission(nb), JAX_NN) == {0: "q1d", 1: None}


def test_explicit_match_beats_heading_and_leaves_context_alone(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path,
        [
            new_markdown_cell("## (a) Univariate Function Gradient (5 points)"),
            new_code_cell("# Q1c.\ndef predict_nn(params, inputs): pass"),  # explicit beats (a)
            new_code_cell("def manual_grad(x): return x"),  # still in (a)'s section
            new_code_cell("z = 1", metadata={"tags": ["q1d"]}),
            new_code_cell("w = 2"),
        ],
    )
    cells = read_submission(path)
    assignment = assign_questions(cells, JAX_NN)
    assert assignment == {1: "q1c", 2: "q1a", 3: "q1d", 4: "q1a"}
    assert question_ends(cells, assignment, JAX_NN_IDS) == {
        "q1a": 4,
        "q1b": None,  # no cell found
        "q1b-hessian": None,
        "q1c": 1,
        "q1d": 3,
    }


def test_question_ends_ignores_unknown_ids_and_markdown() -> None:
    cells = [Cell(0, "code", "", 1, "cell 1"), Cell(1, "markdown", "", 1, "cell 2")]
    assert question_ends(cells, {0: "q9", 1: "q1a"}, ["q1a"]) == {"q1a": None}


def test_notebook_with_small_schema_faults_is_still_read(tmp_path: Path) -> None:
    # Cells without "metadata" (some generators write these) break nbformat's upgrade step.
    path = tmp_path / "sub.ipynb"
    raw = {
        "nbformat": 4,
        "nbformat_minor": 2,
        "metadata": {},
        "cells": [
            {"cell_type": "code", "source": ["# Q1a.\n", "x = 1"]},
            {"cell_type": "markdown", "source": "## (b) Multivariate Function Gradient"},
            {"cell_type": "code", "source": "y = 2", "metadata": {"tags": "not-a-list"}},
        ],
    }
    path.write_text(json.dumps(raw))
    cells = read_submission(path)
    assert [(c.kind, c.source, c.tags) for c in cells] == [
        ("code", "# Q1a.\nx = 1\n", ()),
        ("markdown", "## (b) Multivariate Function Gradient", ()),
        ("code", "y = 2\n", ()),
    ]
    assert assign_questions(cells, JAX_NN) == {0: "q1a", 2: "q1b"}


def test_parses_in_the_graders_process_take_turns() -> None:
    """CPython 3.11 keeps the AST conversion's recursion depth in state every thread shares: two
    parses at once (Dask's worker threads) can fail with "AST constructor recursion depth mismatch".
    parse_source serialises them: while another parse holds the lock, a second one waits."""
    import threading

    from adgrade import cells

    done = threading.Event()
    worker = threading.Thread(target=lambda: (cells.parse_source("x = (1 + (2 * 3))"), done.set()))
    with cells._PARSE_LOCK:
        worker.start()
        # the lock is held for as long as this block lasts: the worker cannot finish, whatever the load
        assert not done.wait(0.3)
    worker.join(10)
    assert done.is_set()


def test_every_parse_in_the_grader_goes_through_parse_source() -> None:
    """One entry point for parsing a submission's code in the grader (thread safety, hostile
    nesting). The child process (runner/child.py) runs one thread and compiles what it runs."""
    import re

    root = Path(__file__).resolve().parent.parent / "adgrade"
    offenders = [f"{path.relative_to(root)}:{number}"
                 for path in root.rglob("*.py") if path.name != "cells.py" and path.parent.name != "runner"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"\bast\.parse\(", line)]
    assert offenders == []
