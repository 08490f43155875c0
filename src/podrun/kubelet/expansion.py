"""Kubernetes `$(VAR)` expansion, as `third_party/forked/golang/expansion/expand.go` does it.

The rules, all of which fall out of the scanner below:
- `$(NAME)` is replaced by NAME's value; if NAME is unknown the reference stays as written.
- `$$` is an escaped `$`: `$$(NAME)` gives the literal text `$(NAME)`.
- `$(` with no closing `)` is kept as is, and so is `$` followed by anything else or ending the text.

Used for `env[].value` (against the variables defined so far), `command`/`args`
(`ExpandContainerCommandAndArgs`) and `subPathExpr` (`ExpandContainerVolumeMounts`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

_OPERATOR = "$"
_OPENER = "("
_CLOSER = ")"


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand every `$(NAME)` in `text`; `lookup` returns None for an unknown name, which stays `$(NAME)`."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == _OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable_name(text, cursor + 1)
            if is_var:
                value = lookup(read)
                out.append(f"$({read})" if value is None else value)
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _read_variable_name(text: str, start: int) -> tuple[str, bool, int]:
    """tryReadVariableName: (text to emit or the name, whether it is a name, characters consumed)."""
    first = text[start]
    if first == _OPERATOR:
        # `$$`: an escaped operator.
        return _OPERATOR, False, 1
    if first == _OPENER:
        close = text.find(_CLOSER, start + 1)
        if close != -1:
            return text[start + 1 : close], True, close - start + 1
        # An incomplete reference: emit `$(` and carry on scanning after the `(`.
        return _OPERATOR + _OPENER, False, 1
    return _OPERATOR + first, False, 1


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str | None]:
    """MappingFuncFor: look a name up in each context in turn."""

    def lookup(name: str) -> str | None:
        for context in contexts:
            if name in context:
                return context[name]
        return None

    return lookup


def expand_command(command: Sequence[str], args: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """ExpandContainerCommandAndArgs: `command` and `args` with `$(VAR)` expanded from the container env."""
    lookup = mapping_for(env)
    return [expand(item, lookup) for item in command], [expand(item, lookup) for item in args]
