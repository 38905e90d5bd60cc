"""The one exception type the core raises for bad input; the CLI turns it into one line, exit 2."""

__all__ = ["SplittuiError", "ProfileError", "one_line"]

_BREAKS = {ord(c): c.encode("unicode_escape").decode() for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """The text with every line break escaped, so a message built from file contents stays one line."""
    return text.translate(_BREAKS)


class SplittuiError(ValueError):
    """Bad input: the message is a complete, user-facing sentence."""


class ProfileError(SplittuiError):
    """A profile file or document is unusable; the message names the file and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: " if source else ""
        at = f"field '{field}': " if field else ""
        super().__init__(one_line(f"{where}{at}{problem}"))
