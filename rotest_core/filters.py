"""Test filter expressions: what ``rotest run -f EXPR`` selects.

A filter is a boolean expression over *words*, as in Rotest::

    Tag1* and not Tag13
    (smoke or Calc*) and not slow
    not (A or B)
    "needs lab" or 'and'

* A word is an ``fnmatch`` pattern (``*``, ``?``, ``[seq]``), matched without
  regard to case. It is true for a test when it matches any of the test's
  names: its tags, its class name and, if given, its method (test) name.
* Unquoted words are made of letters, digits and ``_ . - * ? [ ]``. Quote a
  word with ``"..."`` or ``'...'`` to put spaces, other characters or a
  keyword in it. There are no escapes inside quotes.
* Operators are ``not``, ``and``, ``or`` (in any case), binding in that
  order: ``a or b and not c`` means ``a or (b and (not c))``. Parentheses
  group.

Usage::

    expression = parse_filter("(smoke or Calc*) and not slow")
    matches(expression, tags=["smoke"], class_name="CalcTest")   # True
    expression.matches(["smoke", "CalcTest", "test_add"])        # True

:func:`parse_filter` tokenizes the text and builds the syntax tree by
recursive descent; nothing is ever evaluated as Python. Bad input raises
:class:`FilterSyntaxError`, whose message shows the expression with a caret
under the offending token.
"""
from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

__all__ = ["FilterSyntaxError", "Expression", "Word", "Not", "And", "Or",
           "parse_filter", "matches"]

KEYWORDS = frozenset({"and", "or", "not"})
_WORD_PUNCTUATION = frozenset("_.-*?[]")
_QUOTES = "\"'"
MAX_NESTING = 100  # levels of '(' and 'not' one inside another


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in _WORD_PUNCTUATION


class FilterSyntaxError(ValueError):
    """A filter expression that cannot be parsed.

    ``str(error)`` reads, for ``parse_filter("Tag1 and or Tag2")``::

        bad filter: unexpected 'or' at column 9
          Tag1 and or Tag2
                   ^
          expected a word, 'not' or '(' here

    Columns count from 0, in characters of the expression.

    Attributes: ``reason`` (what is wrong), ``expression`` (the text),
    ``column`` (where) and ``hint`` (what to do about it, or ``None``).
    """

    def __init__(self, reason: str, expression: str, column: int,
                 hint: str | None = None) -> None:
        self.reason = reason
        self.expression = expression
        self.column = column
        self.hint = hint
        # Tabs and newlines would break the caret's alignment: show them as spaces.
        shown = "".join(" " if char.isspace() else char for char in expression)
        lines = [f"bad filter: {reason} at column {column}",
                 f"  {shown}",
                 f"  {' ' * column}^"]
        if hint:
            lines.append(f"  {hint}")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        # Picklable (multiprocess runs send errors between processes).
        return type(self), (self.reason, self.expression, self.column, self.hint)


# --------------------------------------------------------------------------
# The syntax tree

class Expression:
    """A parsed filter: the base of :class:`Word`, :class:`Not`, :class:`And`
    and :class:`Or`. ``str(expression)`` renders text that parses back to an
    equal tree."""

    __slots__ = ()

    def matches(self, names: Iterable[str]) -> bool:
        """Whether a test with these names (tags, class name, method name)
        is selected by this filter."""
        return self._evaluate(tuple(names))

    def _evaluate(self, names: tuple[str, ...]) -> bool:
        raise NotImplementedError

    def _render(self, parent_precedence: int) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self._render(0)


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


@dataclass(frozen=True)
class Word(Expression):
    """A case-insensitive fnmatch pattern; true when it matches any name."""

    pattern: str

    def _evaluate(self, names: tuple[str, ...]) -> bool:
        regex = _compile(self.pattern)
        return any(regex.match(name) for name in names)

    def _render(self, parent_precedence: int) -> str:
        if (self.pattern and all(map(_is_word_char, self.pattern))
                and self.pattern.lower() not in KEYWORDS):
            return self.pattern
        for quote in _QUOTES:
            if quote not in self.pattern:
                return f"{quote}{self.pattern}{quote}"
        raise ValueError(f"a filter word cannot hold both kinds of quote: {self.pattern!r}")


@dataclass(frozen=True)
class Not(Expression):
    """True when its operand is false."""

    operand: Expression

    def _evaluate(self, names: tuple[str, ...]) -> bool:
        return not self.operand._evaluate(names)

    def _render(self, parent_precedence: int) -> str:
        return f"not {self.operand._render(3)}"


@dataclass(frozen=True)
class And(Expression):
    """True when all its operands (two or more) are true."""

    operands: tuple[Expression, ...]

    def _evaluate(self, names: tuple[str, ...]) -> bool:
        return all(operand._evaluate(names) for operand in self.operands)

    def _render(self, parent_precedence: int) -> str:
        return _render_operator(self.operands, "and", 2, parent_precedence)


@dataclass(frozen=True)
class Or(Expression):
    """True when any of its operands (two or more) is true."""

    operands: tuple[Expression, ...]

    def _evaluate(self, names: tuple[str, ...]) -> bool:
        return any(operand._evaluate(names) for operand in self.operands)

    def _render(self, parent_precedence: int) -> str:
        return _render_operator(self.operands, "or", 1, parent_precedence)


def _render_operator(operands: tuple[Expression, ...], keyword: str,
                     precedence: int, parent_precedence: int) -> str:
    # Operands of equal precedence get parentheses too, so that the text
    # parses back to the same (not flattened) tree.
    text = f" {keyword} ".join(operand._render(precedence + 1) for operand in operands)
    return f"({text})" if parent_precedence > precedence else text


# --------------------------------------------------------------------------
# Tokens

class _Token(NamedTuple):
    kind: str       # "word", "and", "or", "not", "(", ")" or "end"
    value: str      # a word's pattern (unquoted); the source text otherwise
    column: int
    source: str     # the text as written, quotes included

    def describe(self) -> str:
        return "the end" if self.kind == "end" else repr(self.source)


def _tokenize(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
        elif char in "()":
            yield _Token(char, char, position, char)
            position += 1
        elif char in _QUOTES:
            end = text.find(char, position + 1)
            if end == -1:
                raise FilterSyntaxError(
                    "unterminated quote", text, position,
                    f"close the word with a matching {char}")
            if end == position + 1:
                raise FilterSyntaxError(
                    "empty quoted word", text, position,
                    "put a pattern between the quotes, or remove them")
            yield _Token("word", text[position + 1:end], position,
                         text[position:end + 1])
            position = end + 1
        elif _is_word_char(char):
            end = position
            while end < len(text) and _is_word_char(text[end]):
                end += 1
            word = text[position:end]
            kind = word.lower() if word.lower() in KEYWORDS else "word"
            yield _Token(kind, word, position, word)
            position = end
        else:
            hint = {"&": "write 'and'", "|": "write 'or'", "!": "write 'not'"}.get(
                char, "quote a word to put other characters in it")
            raise FilterSyntaxError(f"unexpected character {char!r}", text, position,
                                    hint)
    yield _Token("end", "", len(text), "")


# --------------------------------------------------------------------------
# The parser

_OPERAND_HINT = "expected a word, 'not' or '(' here"


class _Parser:
    """Recursive descent over the grammar::

        or_expr  := and_expr ("or" and_expr)*
        and_expr := not_expr ("and" not_expr)*
        not_expr := "not" not_expr | primary
        primary  := WORD | "(" or_expr ")"
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokenize(text))
        self.index = 0
        self.depth = 0        # open '(' and 'not' around the current token
        self.open_parens = 0  # open '(' alone

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, reason: str, token: _Token, hint: str | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(reason, self.text, token.column, hint)

    def parse(self) -> Expression:
        if self.token.kind == "end":
            raise FilterSyntaxError("empty expression", self.text, 0,
                                    "give a tag or class name pattern, e.g. 'smoke and not slow'")
        expression = self.or_expr()
        token = self.token
        if token.kind == ")":
            raise self.error("unmatched ')'", token, "remove it, or add a '(' before it")
        if token.kind != "end":
            raise self.error(f"unexpected {token.describe()}", token,
                             "expected 'and' or 'or' before it")
        return expression

    def or_expr(self) -> Expression:
        operands = [self.and_expr()]
        while self.token.kind == "or":
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Expression:
        operands = [self.not_expr()]
        while self.token.kind == "and":
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Expression:
        if self.token.kind == "not":
            self.enter(self.advance())
            expression = Not(self.not_expr())
            self.depth -= 1
            return expression
        return self.primary()

    def primary(self) -> Expression:
        token = self.token
        if token.kind == "word":
            self.advance()
            return Word(token.value)
        if token.kind == "(":
            self.enter(self.advance())
            self.open_parens += 1
            expression = self.or_expr()
            closing = self.token
            if closing.kind == "end":
                raise self.error("unclosed '('", token, "add a ')' to close it")
            if closing.kind != ")":
                raise self.error(f"unexpected {closing.describe()}", closing,
                                 "expected 'and', 'or' or ')' here")
            self.advance()
            self.depth -= 1
            self.open_parens -= 1
            return expression
        if token.kind == "end":
            previous = self.tokens[self.index - 1]
            if previous.kind == "(":
                raise self.error("unclosed '('", previous, "add a ')' to close it")
            raise self.error(f"dangling {previous.describe()}", previous,
                             "add a word after it, or remove it")
        if token.kind == ")" and self.open_parens == 0:
            raise self.error("unmatched ')'", token, "remove it, or add a '(' before it")
        raise self.error(f"unexpected {token.describe()}", token, _OPERAND_HINT)

    def enter(self, token: _Token) -> None:
        """Count one more level of '(' or 'not'; a bound keeps parsing and
        evaluating (both recursive) far from Python's recursion limit."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error("nested too deeply", token,
                             f"use at most {MAX_NESTING} levels of '(' and 'not'")


def parse_filter(text: str) -> Expression:
    """Parse a filter expression such as ``"Tag1* and not Tag13"``.

    Raises :class:`FilterSyntaxError` (a ``ValueError``) on an empty
    expression, a dangling operator, unbalanced parentheses, an unexpected
    token or character, an unterminated quote, or more than
    :data:`MAX_NESTING` levels of ``(`` and ``not``. A caller with no filter
    should skip filtering rather than parse an empty string.
    """
    return _Parser(text).parse()


def matches(expression: Expression | str, tags: Iterable[str], class_name: str,
            test_name: str | None = None) -> bool:
    """Whether a test is selected by ``expression`` (parsed, or text to parse).

    A word of the filter is true when it matches any of the test's ``tags``,
    its ``class_name`` or, if given, its ``test_name`` (the method name).
    """
    if isinstance(expression, str):
        expression = parse_filter(expression)
    names = [*tags, class_name]
    if test_name is not None:
        names.append(test_name)
    return expression.matches(names)
