"""The shipped answers are named by the code that computes them, not by its prose: a docstring or
comment edited keeps the name; any change of code gives another."""

from bp_oracle.answer_cache import _code_of

SOURCE = '''"""A module."""

def f(x):
    """Twice x."""
    return 2 * x  # doubled
'''


def test_a_docstring_or_a_comment_edited_keeps_the_digest():
    reworded = SOURCE.replace("A module.", "The module, reworded.").replace("# doubled", "# times two")
    assert _code_of(reworded) == _code_of(SOURCE)
    assert _code_of(SOURCE.replace('    """Twice x."""\n', "")) == _code_of(SOURCE)


def test_any_change_of_code_changes_the_digest():
    assert _code_of(SOURCE.replace("2 * x", "3 * x")) != _code_of(SOURCE)
    assert _code_of(SOURCE.replace("def f(x)", "def f(y)").replace("2 * x", "2 * y")) != _code_of(SOURCE)
    assert _code_of(SOURCE.replace('"""A module."""', 'NAME = "A module."')) != _code_of(SOURCE)
