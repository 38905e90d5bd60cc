"""The one exception type the core raises for bad input; the CLI turns it into one line, exit 2."""

__all__ = ["SplittuiError", "ProfileError"]


class SplittuiError(ValueError):
    """Bad input: the message is a complete, user-facing sentence."""


class ProfileError(SplittuiError):
    """A profile file or document is unusable; the message names the file and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: " if source else ""
        at = f"field '{field}': " if field else ""
        super().__init__(f"{where}{at}{problem}")
