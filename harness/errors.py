"""User-facing errors: one line saying what is wrong and how to fix it, exit code 2."""
from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad name, bad config, missing file/data/engine).

    The CLI prints one line, `error: <message> — <fix>`, and exits with code 2;
    the traceback is shown only with --debug.
    """

    exit_code = 2

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message
