"""Label and field selectors with the API server's syntax, semantics and error messages.

`parse_label_selector` follows `k8s.io/apimachinery/pkg/labels/selector.go` (its lexer, its recursive-descent
parser and `Requirement.Matches`), so that odd inputs such as `x in (a,,b)` or `!a=b` parse or fail exactly as
they do against a real cluster. `parse_field_selector` follows `pkg/fields/selector.go` (`=`, `==`, `!=`, terms
joined by `,`, backslash escapes in values) plus the per-kind field label conversion functions of
`pkg/apis/core/v1/conversion.go` and the `ToSelectableFields` functions of the pod and event registries, which
decide which fields a resource can be selected by and what they read. Every error is an `ApiError` 400 carrying
the message the API server would send.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from podrun.api.errors import bad_request
from podrun.model.errors import FieldError, aggregate_message
from podrun.model.validation import is_label_value, is_qualified_name

# ---------------------------------------------------------------------------------------------------------------
# Label selectors


class _Tok(Enum):
    END = auto()
    CLOSE_PAREN = auto()
    COMMA = auto()
    NOT = auto()
    DOUBLE_EQUALS = auto()
    EQUALS = auto()
    GREATER = auto()
    IDENTIFIER = auto()
    IN = auto()
    LESS = auto()
    NOT_EQUALS = auto()
    NOT_IN = auto()
    OPEN_PAREN = auto()


_LITERALS = {
    ")": _Tok.CLOSE_PAREN,
    ",": _Tok.COMMA,
    "!": _Tok.NOT,
    "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS,
    ">": _Tok.GREATER,
    "in": _Tok.IN,
    "<": _Tok.LESS,
    "!=": _Tok.NOT_EQUALS,
    "notin": _Tok.NOT_IN,
    "(": _Tok.OPEN_PAREN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")

# selection.Operator values. The parser's "expected" message lists the binary ones in this order.
EXISTS = "exists"
DOES_NOT_EXIST = "!"
IN = "in"
NOT_IN = "notin"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
GREATER_THAN = "gt"
LESS_THAN = "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_OPERATOR_TOKENS = {
    _Tok.IN: IN,
    _Tok.EQUALS: EQUALS,
    _Tok.DOUBLE_EQUALS: DOUBLE_EQUALS,
    _Tok.GREATER: GREATER_THAN,
    _Tok.LESS: LESS_THAN,
    _Tok.NOT_IN: NOT_IN,
    _Tok.NOT_EQUALS: NOT_EQUALS,
}


def _lex(text: str) -> list[tuple[_Tok, str]]:
    """All tokens of `text`, ending with END (Go's `Lexer.Lex` called until the end of the string)."""
    items: list[tuple[_Tok, str]] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= size:
            items.append((_Tok.END, ""))
            return items
        start = pos
        if text[pos] in _SPECIAL:
            # The longest run of symbols that is an operator: "!=" rather than "!". Every single symbol is
            # one, so a token is always found.
            best, best_end = _LITERALS[text[pos]], pos + 1
            end = best_end
            while end < size and text[end] in _SPECIAL:
                end += 1
                candidate = _LITERALS.get(text[start:end])
                if candidate is None:
                    break
                best, best_end = candidate, end
            items.append((best, text[start:best_end]))
            pos = best_end
        else:
            while pos < size and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            word = text[start:pos]
            items.append((_LITERALS.get(word, _Tok.IDENTIFIER), word))


class _ParseError(Exception):
    """A selector syntax error; its text is the API server's message."""


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: a key, an operator (`EXISTS`, `IN`, …) and its values, sorted and unique."""

    key: str
    operator: str
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Requirement.Matches: `notin` and `!=` also match objects without the label."""
        present = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        # gt / lt compare integers; a label that is not one never matches.
        if not present:
            return False
        try:
            value = int(labels[self.key])
        except ValueError:
            return False
        bound = int(self.values[0])
        return value > bound if self.operator == GREATER_THAN else value < bound


def _requirement(key: str, operator: str, values: set[str]) -> Requirement:
    """NewRequirement: check the values for the operator (the key was checked while parsing)."""
    ordered = sorted(values)
    errors: list[FieldError] = []
    if operator in (GREATER_THAN, LESS_THAN):
        errors += [
            FieldError.invalid(f"values[{index}]", value, "for 'Gt', 'Lt' operators, the value must be an integer")
            for index, value in enumerate(ordered)
            if not re.fullmatch(r"[+-]?[0-9]+", value)
        ]
    for index, value in enumerate(ordered):
        problems = is_label_value(value)
        if problems:
            errors.append(FieldError.invalid(f"values[{index}][{key}]", value, "; ".join(problems)))
    if errors:
        raise _ParseError(aggregate_message(errors))
    return Requirement(key, operator, tuple(ordered))


class _LabelParser:
    """Go's `labels.Parser`: a recursive descent over the scanned tokens, with one token of lookahead."""

    def __init__(self, text: str) -> None:
        self._items = _lex(text)
        self._position = 0

    def _lookahead(self, values: bool) -> tuple[_Tok, str]:
        token, literal = self._items[self._position]
        # In a value position the keywords are plain words: `a in (in)` is valid.
        if values and token in (_Tok.IN, _Tok.NOT_IN):
            token = _Tok.IDENTIFIER
        return token, literal

    def _consume(self, values: bool) -> tuple[_Tok, str]:
        item = self._lookahead(values)
        self._position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._lookahead(True)
            if token == _Tok.END:
                return requirements
            if token not in (_Tok.IDENTIFIER, _Tok.NOT):
                raise _ParseError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except _ParseError as error:
                raise _ParseError(f"unable to parse requirement: {error}") from None
            token, literal = self._consume(True)
            if token == _Tok.END:
                return requirements
            if token != _Tok.COMMA:
                raise _ParseError(f"found '{literal}', expected: ',' or 'end of string'")
            next_token, next_literal = self._lookahead(True)
            if next_token not in (_Tok.IDENTIFIER, _Tok.NOT):
                raise _ParseError(f"found '{next_literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator is not None:
            return _requirement(key, operator, set())
        operator = self._operator()
        values = self._values() if operator in (IN, NOT_IN) else self._exact_value()
        return _requirement(key, operator, values)

    def _key_and_inferred_operator(self) -> tuple[str, str | None]:
        operator = None
        token, literal = self._consume(True)
        if token == _Tok.NOT:
            operator = DOES_NOT_EXIST
            token, literal = self._consume(True)
        if token != _Tok.IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        problems = is_qualified_name(literal)
        if problems:
            # Go validates the key against a nil field path, which prints as "<nil>".
            raise _ParseError(str(FieldError.invalid("<nil>", literal, "; ".join(problems))))
        if operator is None and self._lookahead(True)[0] in (_Tok.END, _Tok.COMMA):
            operator = EXISTS
        return literal, operator

    def _operator(self) -> str:
        token, literal = self._consume(False)
        if token not in _OPERATOR_TOKENS:
            raise _ParseError(f"found '{literal}', expected: {', '.join(_BINARY_OPERATORS)}")
        return _OPERATOR_TOKENS[token]

    def _values(self) -> set[str]:
        token, literal = self._consume(True)
        if token != _Tok.OPEN_PAREN:
            raise _ParseError(f"found '{literal}' expected: '('")
        token, literal = self._lookahead(True)
        if token == _Tok.CLOSE_PAREN:
            self._consume(True)
            return {""}
        if token not in (_Tok.IDENTIFIER, _Tok.COMMA):
            raise _ParseError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifiers()
        if self._consume(True)[0] != _Tok.CLOSE_PAREN:
            # Go names the token seen before the list here, not the one that failed.
            raise _ParseError(f"found '{literal}', expected: ')'")
        return values

    def _identifiers(self) -> set[str]:
        """A comma-separated list of possibly empty values: `(a,,b)` holds "a", "" and "b"."""
        values: set[str] = set()
        while True:
            token, literal = self._consume(True)
            if token == _Tok.IDENTIFIER:
                values.add(literal)
                next_token, next_literal = self._lookahead(True)
                if next_token == _Tok.CLOSE_PAREN:
                    return values
                if next_token != _Tok.COMMA:
                    raise _ParseError(f"found '{next_literal}', expected: ',' or ')'")
            elif token == _Tok.COMMA:
                if not values:
                    values.add("")
                next_token, _ = self._lookahead(True)
                if next_token == _Tok.CLOSE_PAREN:
                    values.add("")
                    return values
                if next_token == _Tok.COMMA:
                    self._consume(True)
                    values.add("")
            else:
                raise _ParseError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._lookahead(True)[0] in (_Tok.END, _Tok.COMMA):
            return {""}
        token, literal = self._consume(True)
        if token != _Tok.IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        return {literal}


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: the AND of its requirements, sorted by key. No requirements match everything."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels (None: no labels) is selected."""
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a `labelSelector` query value (`app=web,tier in (a,b),!legacy`); ApiError 400 when malformed."""
    try:
        requirements = _LabelParser(text).parse()
    except _ParseError as error:
        raise bad_request(str(error)) from None
    return LabelSelector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


# ---------------------------------------------------------------------------------------------------------------
# Field selectors

_Getter = Callable[[Mapping[str, Any]], str]


def _text(value: Any) -> str:
    """A field's value as the API server renders it into a selectable field: missing is ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _path_getter(path: str) -> _Getter:
    keys = path.split(".")

    def get(obj: Mapping[str, Any]) -> str:
        value: Any = obj
        for key in keys:
            if not isinstance(value, Mapping):
                return ""
            value = value.get(key)
        return _text(value)

    return get


def _pod_ip(pod: Mapping[str, Any]) -> str:
    # The registry reads status.podIPs[0]; status.podIP mirrors it, and is what a bare status carries.
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    return _text(ips[0].get("ip")) if ips else _text(status.get("podIP"))


def _host_network(pod: Mapping[str, Any]) -> str:
    return "true" if (pod.get("spec") or {}).get("hostNetwork") else "false"


def _event_source(event: Mapping[str, Any]) -> str:
    # event registry: source.component, else the events.k8s.io reportingController (core/v1 reportingComponent).
    return _text((event.get("source") or {}).get("component")) or _text(event.get("reportingComponent"))


_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
# Which fields each resource can be selected by (the conversion funcs), and fields read in a special way.
_SELECTABLE: dict[str, frozenset[str]] = {
    "pods": _META_FIELDS
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "events": _META_FIELDS
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "namespaces": frozenset({"metadata.name", "status.phase"}),
    "nodes": frozenset({"metadata.name", "spec.unschedulable"}),
    "secrets": _META_FIELDS | {"type"},
}
_ALIASES = {("pods", "spec.host"): "spec.nodeName"}
_SPECIAL_GETTERS: dict[tuple[str, str], _Getter] = {
    ("pods", "status.podIP"): _pod_ip,
    ("pods", "spec.hostNetwork"): _host_network,
    ("events", "source"): _event_source,
}


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector: `field=value` (`==` is the same) or `field!=value`."""

    field: str
    equal: bool
    value: str
    getter: _Getter

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's field has (or, for `!=`, has not) the value."""
        return (self.getter(obj) == self.value) == self.equal


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: the AND of its terms. No terms match everything."""

    requirements: tuple[FieldRequirement, ...]

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object is selected."""
        return all(requirement.matches(obj) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped; the escapes stay in the terms."""
    terms, start, escaped = [], 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The field, operator and raw value of a term, split at the first operator (fields have no escapes)."""
    for index in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


def _unescape(value: str) -> str:
    """fields.UnescapeValue: `\\\\`, `\\,` and `\\=` are the only escapes; bare `,` and `=` are errors."""
    out: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go prints the rune with %v, that is its code point.
            raise bad_request(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            out.append(char)
    if escaped:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str, resource: str = "") -> FieldSelector:
    """Parse a `fieldSelector` query value (`metadata.name=web,status.phase!=Failed`).

    With `resource` (`pods`, `events`, …) only the fields that resource supports are accepted, others fail with
    `field label not supported: <field>` as the API server's field label conversion does; resources without
    their own list support `metadata.name` and `metadata.namespace`. Without it any dotted path is read.
    Malformed selectors raise ApiError 400.
    """
    requirements: list[FieldRequirement] = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        parts = _split_term(term)
        if parts is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw = parts
        value = _unescape(raw)
        if resource:
            field = _ALIASES.get((resource, field), field)
            if field not in _SELECTABLE.get(resource, _META_FIELDS):
                raise bad_request(f"field label not supported: {field}")
        getter = _SPECIAL_GETTERS.get((resource, field)) or _path_getter(field)
        requirements.append(FieldRequirement(field, operator != "!=", value, getter))
    return FieldSelector(tuple(requirements))
