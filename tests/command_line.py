"""Running a command-line ``main(argv)`` in the tests: exit status and output, argparse's exit included."""


def run_main(main, argv, capsys):
    """``(status, stdout, stderr)`` of ``main(argv)``; a ``SystemExit`` (argparse's refusals) gives its code."""
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err
