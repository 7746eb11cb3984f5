"""Every code block of README.md runs as written: the README's examples are promises.

The blocks come from markdown-it-py (CommonMark: fenced and indented blocks alike).

* Python blocks (fenced ``python``) run in a fresh namespace in a temporary working
  directory; a deprecation warning raised by the block's own code fails it.
* Shell blocks (indented, or fenced ``bash``/``sh``/``shell``/``console`` or without an
  info string): lines ending in a backslash are joined, comments dropped, a line is
  split at ``&&``, and each command is
  - run when it is ``symcorr ...`` or ``python -m ...`` (this checkout first on
    ``PYTHONPATH``, a temporary working directory) and must exit 0; or
  - run with the extra arguments and for the reason listed in :data:`SHORTENED`; or
  - skipped for the reason listed in :data:`SKIPPED_COMMANDS` / :data:`SKIPPED_PROGRAMS`.
  Any other command fails, so a new kind of example gets a decision here.
* Other fenced blocks (``text``, ``latex``, ``toml``, ...) are not code to run.
"""
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

markdown_it = pytest.importorskip("markdown_it")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHELL_INFOS = {"", "bash", "sh", "shell", "console"}
PYTHON_INFOS = {"python", "py", "python3"}

#: programs whose commands are never run here, and why
SKIPPED_PROGRAMS = {
    "pip": "installs packages: the tests run in the environment it installed",
    "pytest": "the test suite itself",
    "apt-get": "a system package manager",
}

#: single commands (as written, comments dropped) not run here, and why
SKIPPED_COMMANDS = {
    "python -m derivations": "rewrites the shipped kernels in the source tree; .ci/run runs the "
                             "--check that says they are current",
    "python -m derivations --check --rederive": ".ci/run runs it after the tests (about 30 s)",
    "symcorr reproduce mnist --data fashion": "needs Debian's dataset-fashion-mnist and runs for minutes",
    "symcorr reproduce mnist --data DIR": "DIR is a placeholder for the reader's folder of IDX files",
}

#: commands run with extra arguments (the command as written, then these), and why
SHORTENED = {
    "symcorr reproduce xor": (["--quick", "--no-figures"],
                              "the full run takes about 20 s; --quick runs the same code on fewer samples"),
    "symcorr reproduce mnist --data digits": (["--quick", "--no-figures", "--activations", "erf"],
                                              "the full run takes minutes; the quick one with one network runs "
                                              "the same code (tests/experiments runs both networks)"),
    "symcorr reproduce mnist --full-width": (["--data", "digits", "--hidden", "32,16", "--epochs", "2",
                                              "--out", "reports/mnist-full-width-readme"],
                                             "the default runs Fashion-MNIST at width 784 for minutes; digits "
                                             "runs the same code at 64 inputs"),
}


def _blocks():
    """``(kind, number, text)`` of every code block: kind ``python``, ``shell`` or ``other``."""
    tokens = markdown_it.MarkdownIt("commonmark").parse(README.read_text(encoding="utf-8"))
    out = []
    for token in tokens:
        if token.type not in ("fence", "code_block"):
            continue
        info = token.info.strip().split()[0].lower() if token.info.strip() else ""
        kind = "python" if info in PYTHON_INFOS else "shell" if info in SHELL_INFOS else "other"
        out.append((kind, token.map[0] + 1, token.content))
    return out


def _commands(text: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, split at ``&&``."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line.removeprefix("$ "), comments=True)
        while tokens:
            cut = tokens.index("&&") if "&&" in tokens else len(tokens)
            commands.append(tokens[:cut])
            tokens = tokens[cut + 1:]
    return [c for c in commands if c]


BLOCKS = _blocks()
PYTHON_BLOCKS = [(line, text) for kind, line, text in BLOCKS if kind == "python"]
SHELL_COMMANDS = [(line, command) for kind, line, text in BLOCKS if kind == "shell" for command in _commands(text)]


def test_the_readme_has_examples_of_both_kinds():
    """The extraction found the tour's Python and the command lines (a parser change cannot empty the test)."""
    assert len(PYTHON_BLOCKS) >= 2
    assert sum(command[0] == "symcorr" for _, command in SHELL_COMMANDS) >= 5


def test_every_listed_skip_or_shortening_is_still_in_the_readme():
    written = {shlex.join(command) for _, command in SHELL_COMMANDS}
    stale = [c for c in (*SKIPPED_COMMANDS, *SHORTENED) if c not in written]
    assert not stale, f"listed in tests/test_readme.py but no longer in README.md: {stale}"


@pytest.mark.parametrize("line, text", PYTHON_BLOCKS, ids=[f"line{line}" for line, _ in PYTHON_BLOCKS])
def test_python_block(line, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    filename = f"<README.md line {line}>"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(text, filename, "exec"), {"__name__": "__readme__"})
    deprecated = [str(w.message) for w in caught
                  if w.filename == filename and issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert not deprecated, f"README.md line {line} uses deprecated API: {deprecated}"


def _program(command: list[str]) -> list[str] | None:
    """The argv to run for a README command, or ``None`` when it is not ``symcorr``/``python -m``."""
    if command[0] == "symcorr":
        return [sys.executable, "-m", "symcorr", *command[1:]]
    if command[0] in ("python", "python3") and len(command) > 2 and command[1] == "-m":
        return [sys.executable, *command[1:]]
    return None


@pytest.mark.parametrize("line, command", SHELL_COMMANDS,
                         ids=[shlex.join(command)[:60] for _, command in SHELL_COMMANDS])
def test_shell_command(line, command, tmp_path):
    written = shlex.join(command)
    if written in SKIPPED_COMMANDS:
        pytest.skip(SKIPPED_COMMANDS[written])
    if command[0] in SKIPPED_PROGRAMS:
        pytest.skip(SKIPPED_PROGRAMS[command[0]])
    argv = _program(command)
    assert argv is not None, (f"README.md line {line}: {written!r} is neither run nor skipped: run it as "
                              "symcorr/python -m, or list it in tests/test_readme.py with a reason")
    argv += SHORTENED.get(written, ([], ""))[0]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               MPLBACKEND="Agg")
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (f"README.md line {line}: {written!r} exited {result.returncode}\n"
                                    f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
