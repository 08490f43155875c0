"""`podrun completion bash|zsh`: shell completion generated from the argparse parser itself.

The script is built from the parser's own tree, so a new subcommand or flag completes without touching this module.
shtab does the same but would be a new runtime dependency for what is a two-level parser; zsh gets the bash
function through zsh's `bashcompinit`, which needs nothing but zsh itself.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CommandWords:
    """What can follow one command path (`""`, `"/image"`, `"/image/ls"`): words, and what each flag's value is."""

    words: list[str] = field(default_factory=list)
    value_choices: dict[str, list[str]] = field(default_factory=dict)
    file_flags: list[str] = field(default_factory=list)
    free_flags: list[str] = field(default_factory=list)
    words_are_all: bool = False  # subcommands or a positional's choices: no file arguments


def command_tree(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, CommandWords]]:
    """Every command path of `parser` with the words that may follow it, depth first."""
    here = CommandWords()
    children: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            children.extend(action.choices.items())
            here.words.extend(action.choices)
            here.words_are_all = True
            continue
        if not action.option_strings:
            if action.choices is not None:
                here.words.extend(str(choice) for choice in action.choices)
                here.words_are_all = True
            continue
        here.words.extend(action.option_strings)
        if action.nargs == 0:
            continue
        if action.choices is not None:
            for flag in action.option_strings:
                here.value_choices[flag] = [str(choice) for choice in action.choices]
        elif action.type is Path or action.dest in ("filename", "file"):
            here.file_flags.extend(action.option_strings)
        else:
            here.free_flags.extend(action.option_strings)
    yield path, here
    for name, child in children:
        yield from command_tree(child, f"{path}/{name}")


def bash_script(parser: argparse.ArgumentParser) -> str:
    """A bash completion script for `parser`'s program: subcommands, flags, flag choices and file arguments."""
    prog = parser.prog
    func = f"_{prog.replace('-', '_')}"
    tree = list(command_tree(parser))
    paths = " ".join(shlex.quote(path) for path, _ in tree if path)
    value_cases, word_cases = [], []
    for path, words in tree:
        for flag, choices in words.value_choices.items():
            wordlist = shlex.quote(" ".join(choices))
            value_cases.append(f'        "{path} {flag}") COMPREPLY=($(compgen -W {wordlist} -- "$cur")); return ;;')
        if words.file_flags:
            patterns = "|".join(f'"{path} {flag}"' for flag in words.file_flags)
            value_cases.append(f'        {patterns}) COMPREPLY=($(compgen -f -- "$cur")); return ;;')
        if words.free_flags:
            patterns = "|".join(f'"{path} {flag}"' for flag in words.free_flags)
            value_cases.append(f"        {patterns}) return ;;")
        leaf = "" if words.words_are_all else " leaf=1"
        word_cases.append(f'        "{path}") words={shlex.quote(" ".join(words.words))}{leaf} ;;')
    return "\n".join(
        [
            f"# bash completion for {prog}: source it, or save it as /etc/bash_completion.d/{prog}",
            f"{func}() {{",
            '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="" words="" leaf="" i',
            "    for ((i = 1; i < COMP_CWORD; i++)); do",
            f'        case " {paths} " in *" $path/${{COMP_WORDS[i]}} "*) path="$path/${{COMP_WORDS[i]}}" ;; esac',
            "    done",
            '    case "$path $prev" in',
            *value_cases,
            "    esac",
            '    case "$path" in',
            *word_cases,
            "    esac",
            # A command without subcommands or choices takes files (manifests, archives) or a command line as arguments.
            '    [[ -n $leaf && $cur != -* ]] && COMPREPLY=($(compgen -f -- "$cur"))',
            '    COMPREPLY+=($(compgen -W "$words" -- "$cur"))',
            "}",
            f"complete -o filenames -F {func} {prog}",
            "",
        ]
    )


def zsh_script(parser: argparse.ArgumentParser) -> str:
    """A zsh completion script: the bash one, run by zsh's bashcompinit."""
    return f"#compdef {parser.prog}\nautoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser)


def completion_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Print the completion script for the shell `args.shell` names."""
    print(bash_script(parser) if args.shell == "bash" else zsh_script(parser), end="")
    return 0
