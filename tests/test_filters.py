"""Filter expressions of ``rotest run -f EXPR`` (rotest_core.filters)."""
from __future__ import annotations

import fnmatch
import pickle

import pytest
from hypothesis import given, settings, strategies as st

from rotest_core.filters import (And, Expression, FilterSyntaxError, Not, Or, Word,
                                 matches, parse_filter)


def selects(text: str, *names: str) -> bool:
    return parse_filter(text).matches(names)


# --------------------------------------------------------------------------
# Parsing to a tree

@pytest.mark.parametrize("text, tree", [
    ("a", Word("a")),
    ("a or b and c", Or((Word("a"), And((Word("b"), Word("c")))))),
    ("a and b or c", Or((And((Word("a"), Word("b"))), Word("c")))),
    ("not a and b", And((Not(Word("a")), Word("b")))),
    ("not a or not b", Or((Not(Word("a")), Not(Word("b"))))),
    ("a and b and c", And((Word("a"), Word("b"), Word("c")))),
    ("a or b or c", Or((Word("a"), Word("b"), Word("c")))),
    ("(a or b) and c", And((Or((Word("a"), Word("b"))), Word("c")))),
    ("not (A or B)", Not(Or((Word("A"), Word("B"))))),
    ("not not a", Not(Not(Word("a")))),
    ("((a))", Word("a")),
    ("Tag1* and not Tag13", And((Word("Tag1*"), Not(Word("Tag13"))))),
    ("(smoke or Calc*) and not slow",
     And((Or((Word("smoke"), Word("Calc*"))), Not(Word("slow"))))),
    ("a AND b Or NOT c", Or((And((Word("a"), Word("b"))), Not(Word("c"))))),
    ("x.y-z_1 or t?[0-9]", Or((Word("x.y-z_1"), Word("t?[0-9]")))),
    ("android or order or nothing",  # keywords only as whole words
     Or((Word("android"), Word("order"), Word("nothing")))),
    ('"two words" or \'and\'', Or((Word("two words"), Word("and")))),
    ("\"it's\" or 'say \"hi\"'", Or((Word("it's"), Word('say "hi"')))),
    ("\ta\n and\r\nb ", And((Word("a"), Word("b")))),
    ("(a)and(b)", And((Word("a"), Word("b")))),
    ("Ünïcode_tag", Word("Ünïcode_tag")),
])
def test_parse_builds_the_tree(text, tree):
    assert parse_filter(text) == tree


def test_str_renders_text_that_parses_back():
    tree = parse_filter("(a or b) and not (c and d) or 'x y' or \"and\"")
    assert str(tree) == '(a or b) and not (c and d) or "x y" or "and"'
    assert str(Word('say "hi"')) == "'say \"hi\"'"
    assert parse_filter(str(tree)) == tree


def test_a_word_with_both_quotes_cannot_be_rendered():
    with pytest.raises(ValueError, match="both kinds of quote"):
        str(Word("""it's "x" """))


# --------------------------------------------------------------------------
# Evaluation

def test_precedence_and_binds_tighter_than_or():
    # a or (b and c), not (a or b) and c
    assert selects("a or b and c", "a")
    assert not selects("(a or b) and c", "a")
    assert selects("a or b and c", "b", "c")


def test_precedence_not_binds_tighter_than_and():
    # (not a) and b, not (a and b)
    assert not selects("not a and b", "a")
    assert selects("not (a and b)", "a")
    assert selects("not a and b", "b")


def test_parentheses_group():
    assert selects("not (A or B)", "C")
    assert not selects("not (A or B)", "B")
    assert selects("(smoke or Calc*) and not slow", "CalcTest")
    assert not selects("(smoke or Calc*) and not slow", "smoke", "slow")


def test_not():
    assert selects("not a", "b")
    assert not selects("not a", "a", "b")
    assert selects("not not a", "a")
    assert selects("not a")  # a test with no names matches no word


def test_words_and_keywords_ignore_case():
    assert selects("SMOKE", "smoke")
    assert selects("smoke", "SmOkE")
    assert selects("calc* AND NOT Slow", "CalcTest")
    assert selects("[A-C]alc", "calc")


@pytest.mark.parametrize("pattern, name, expected", [
    ("Tag1*", "Tag1", True),
    ("Tag1*", "Tag13", True),
    ("Tag1*", "Tag2", False),
    ("Tag?", "Tag1", True),
    ("Tag?", "Tag12", False),
    ("Tag[12]", "Tag2", True),
    ("Tag[12]", "Tag3", False),
    ("'Tag[!12]'", "Tag3", True),
    ("*Test", "CalcTest", True),
    ("Calc", "CalcTest", False),   # the whole name must match
    ("a.b", "axb", False),         # '.' is literal
    ("'x y*'", "x yz", True),
])
def test_words_are_fnmatch_patterns(pattern, name, expected):
    assert selects(pattern, name) is expected


def test_tag1_but_not_tag13():
    expression = parse_filter("Tag1* and not Tag13")
    assert matches(expression, ["Tag1"], "SomeTest")
    assert matches(expression, ["Tag12", "Other"], "SomeTest")
    assert not matches(expression, ["Tag1", "Tag13"], "SomeTest")
    assert not matches(expression, ["Tag2"], "SomeTest")


def test_words_match_tags_class_name_and_test_name():
    assert matches("smoke", ["smoke"], "CalcTest")
    assert matches("Calc*", [], "CalcTest")
    assert not matches("Calc*", ["smoke"], "OtherTest")
    assert matches("test_add", [], "CalcTest", "test_add")
    assert not matches("test_add", [], "CalcTest")
    assert not matches("test_*", ["x"], "CalcTest", "runTest_1")
    # one word may be true by a tag, another by the class name
    assert matches("smoke and Calc*", ["smoke"], "CalcTest")
    assert not matches("smoke and not Calc*", ["smoke"], "CalcTest")


def test_matches_accepts_any_iterable_of_names_once():
    expression = parse_filter("a and b")
    assert expression.matches(name for name in ["a", "b"])  # a one-shot generator
    assert matches(expression, iter(["a", "b"]), "C")


def test_quoted_words():
    assert selects('"needs lab"', "needs lab")
    assert not selects('"needs lab"', "needs")
    assert selects("'not'", "not")
    assert selects('"and" and "or"', "AND", "Or")
    assert selects("'a&b' or 'x(y)'", "x(y)")


def test_long_expressions_do_not_exhaust_the_stack():
    words = [f"t{i}" for i in range(5000)]
    assert selects(" or ".join(words), "t4999")
    assert not selects(" and ".join(words), "t1")
    assert selects("not " * 99 + "x", "y")
    assert selects("(" * 50 + "not " * 48 + "x" + ")" * 50, "x")


@pytest.mark.parametrize("text, column", [
    ("(" * 101 + "a" + ")" * 101, 100),
    ("not " * 101 + "a", 400),
    ("b or " + "(not " * 51 + "a" + ")" * 51, 5 + 5 * 50),
])
def test_deep_nesting_is_a_syntax_error_not_a_crash(text, column):
    with pytest.raises(FilterSyntaxError, match="nested too deeply") as caught:
        parse_filter(text)
    assert caught.value.column == column


# --------------------------------------------------------------------------
# Errors: the message quotes the expression, a caret points at the token

def test_error_message_format():
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("Tag1 and or Tag2")
    message = str(caught.value)
    assert message.splitlines()[:3] == [
        "bad filter: unexpected 'or' at column 9",
        "  Tag1 and or Tag2",
        "           ^",
    ]
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.expression, error.column, error.reason) == (
        "Tag1 and or Tag2", 9, "unexpected 'or'")
    assert "expected a word" in error.hint


@pytest.mark.parametrize("text, reason, column", [
    # empty expression
    ("", "empty expression", 0),
    ("   ", "empty expression", 0),
    # dangling operator
    ("a and", "dangling 'and'", 2),
    ("a or b OR", "dangling 'OR'", 7),
    ("not", "dangling 'not'", 0),
    ("a and not", "dangling 'not'", 6),
    ("and a", "unexpected 'and'", 0),
    ("or", "unexpected 'or'", 0),
    ("not or a", "unexpected 'or'", 4),
    ("Tag1 and or Tag2", "unexpected 'or'", 9),
    # unbalanced parentheses
    ("(a", "unclosed '('", 0),
    ("(", "unclosed '('", 0),
    ("a and ((b) or c", "unclosed '('", 6),
    ("a)", "unmatched ')'", 1),
    ("(a))", "unmatched ')'", 3),
    (")", "unmatched ')'", 0),
    ("()", "unexpected ')'", 1),
    ("(a and)", "unexpected ')'", 6),
    ("not )", "unmatched ')'", 4),
    ("(not )", "unexpected ')'", 5),
    # unexpected token
    ("a b", "unexpected 'b'", 2),
    ("a (b)", "unexpected '('", 2),
    ("a not b", "unexpected 'not'", 2),
    ("(a b)", "unexpected 'b'", 3),
    ("a 'b c'", "unexpected \"'b c'\"", 2),
    ("a & b", "unexpected character '&'", 2),
    ("a | b", "unexpected character '|'", 2),
    ("!a", "unexpected character '!'", 0),
    ("tag, other", "unexpected character ','", 3),
    # unterminated quote
    ('"abc', "unterminated quote", 0),
    ("a and 'b c", "unterminated quote", 6),
    ("a and \"b c'", "unterminated quote", 6),
    # a quoted word must have something in it
    ("a or ''", "empty quoted word", 5),
])
def test_errors_point_at_the_bad_token(text, reason, column):
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    error = caught.value
    assert error.reason == reason
    assert error.column == column
    message = str(error)
    assert message.startswith(f"bad filter: {reason} at column {column}\n")
    assert message.splitlines()[1] == f"  {text}"
    assert message.splitlines()[2] == "  " + " " * column + "^"


def test_error_hints_say_what_to_do():
    cases = {"a & b": "'and'", "a | b": "'or'", "!a": "'not'", "(a": "')'",
             "a b": "'and' or 'or'", "'x": "matching '"}
    for text, hint in cases.items():
        with pytest.raises(FilterSyntaxError) as caught:
            parse_filter(text)
        assert hint in caught.value.hint, text
        assert str(caught.value).splitlines()[3] == f"  {caught.value.hint}"


def test_error_caret_stays_aligned_with_tabs_and_newlines():
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("a\tand\nor b")
    lines = str(caught.value).splitlines()
    assert lines[1] == "  a and or b"
    assert lines[2] == "        ^"


def test_error_survives_pickling():
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("a or")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert copy.column == caught.value.column


# --------------------------------------------------------------------------
# Properties

PATTERNS = ["a", "b", "ab", "A*", "*b", "?b", "[ab]c", "x y", "and", "OR", "Not",
            "t.1-2_x", "it's", 'say "hi"', "c*d?", "[!a]*"]
NAMES = ["a", "b", "ab", "AB", "bc", "cc", "x y", "and", "or", "not", "t.1-2_x",
         "it's", 'say "hi"', "cad", "cxdy", "zz"]


def trees(max_leaves: int = 12) -> st.SearchStrategy[Expression]:
    """Random syntax trees over PATTERNS; And and Or have 2 to 4 operands."""
    return st.recursive(
        st.sampled_from(PATTERNS).map(Word),
        lambda children: st.one_of(
            children.map(Not),
            st.lists(children, min_size=2, max_size=4).map(tuple).map(And),
            st.lists(children, min_size=2, max_size=4).map(tuple).map(Or)),
        max_leaves=max_leaves)


def reference(tree: Expression, names: frozenset[str]) -> bool:
    """The meaning of a tree, written independently of the module."""
    lowered = [name.lower() for name in names]
    if isinstance(tree, Word):
        return any(fnmatch.fnmatchcase(name, tree.pattern.lower()) for name in lowered)
    if isinstance(tree, Not):
        return not reference(tree.operand, names)
    if isinstance(tree, And):
        return all(reference(operand, names) for operand in tree.operands)
    if isinstance(tree, Or):
        return any(reference(operand, names) for operand in tree.operands)
    raise TypeError(tree)


UNQUOTED_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-*?[]")


def render(tree: Expression, draw, precedence: int = 0) -> str:
    """Text for a tree, with random keyword case, spacing, quoting and
    redundant parentheses; parentheses wherever precedence needs them."""
    space = lambda: draw(st.sampled_from([" ", "  ", "\t", " \n "]))  # noqa: E731
    if isinstance(tree, Word):
        pattern = tree.pattern
        quotes = [quote for quote in "\"'" if quote not in pattern]
        bare_ok = set(pattern) <= UNQUOTED_CHARS and pattern.lower() not in {"and", "or", "not"}
        quote = draw(st.sampled_from(([""] if bare_ok else []) + quotes))
        text, own = f"{quote}{pattern}{quote}", 4
    elif isinstance(tree, Not):
        keyword = draw(st.sampled_from(["not", "NOT", "Not"]))
        text, own = f"{keyword}{space()}{render(tree.operand, draw, 3)}", 3
    else:
        own = 2 if isinstance(tree, And) else 1
        word = "and" if own == 2 else "or"
        # Same-precedence children need no parentheses: a and (b and c) == a and b and c.
        parts = [render(operand, draw, own) for operand in tree.operands]
        text = "".join(
            part if index == 0 else
            f"{space()}{draw(st.sampled_from([word, word.upper(), word.title()]))}{space()}{part}"
            for index, part in enumerate(parts))
    if own < precedence or draw(st.integers(0, 9)) == 0:
        text = f"({draw(st.sampled_from(['', ' ']))}{text}{draw(st.sampled_from(['', ' ']))})"
    return text


@settings(max_examples=300, deadline=None)
@given(tree=trees(), data=st.data())
def test_parsing_rendered_text_evaluates_like_the_tree(tree, data):
    text = render(tree, data.draw)
    parsed = parse_filter(text)
    for _ in range(5):
        names = data.draw(st.frozensets(st.sampled_from(NAMES), max_size=5))
        expected = reference(tree, names)
        assert tree.matches(names) is expected
        assert parsed.matches(names) is expected, (text, sorted(names))


@settings(max_examples=300, deadline=None)
@given(tree=trees())
def test_str_round_trips_exactly(tree):
    assert parse_filter(str(tree)) == tree


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=" ()aAbnNdDoOrRtT*\"'&\t", max_size=30))
def test_any_text_parses_or_raises_a_filter_syntax_error(text):
    try:
        tree = parse_filter(text)
    except FilterSyntaxError as error:
        assert 0 <= error.column <= len(text)
        lines = str(error).splitlines()
        assert lines[2] == "  " + " " * error.column + "^"
    else:
        assert parse_filter(str(tree)) == tree
