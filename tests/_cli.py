"""Checks shared by the tests of the command line's errors (imported by the test modules; not collected)."""

from __future__ import annotations

from pathlib import Path

from mindgap_lib.cli.main import main as cli


def one_line_error(capsys, argv: list[str], command: str, *culprits: str, debug: bool = True) -> str:
    """Run `argv` in-process: exit 2, exactly one stderr line ``mindgap <command>: error: ...`` naming every
    culprit, no traceback; then again with ``--debug``, which must show the traceback. Returns the line."""
    capsys.readouterr()
    code = cli(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"not one line:\n{err}"
    assert lines[0].startswith(f"mindgap {command}: error: "), err
    assert "Traceback" not in err
    for culprit in culprits:
        assert culprit in lines[0], (culprit, lines[0])
    if debug:
        assert cli(["--debug", *argv]) == 2
        shown = capsys.readouterr().err
        assert "Traceback (most recent call last)" in shown, shown
        assert shown.rstrip().splitlines()[-1] == lines[0]  # the same line closes the traceback
    return lines[0]


def files_under(folder: Path) -> list[Path]:
    """Every file below `folder` (none if it does not exist)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
