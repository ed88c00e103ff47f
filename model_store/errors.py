"""Why a model cannot be stored or loaded; each message says what to do about it."""


class ModelStoreError(Exception):
    """Base class for every refusal of the model store."""


class VersionNotFoundError(ModelStoreError):
    """The version id or alias names nothing in the store."""


class ChecksumMismatchError(ModelStoreError):
    """An artifact differs from what was saved (tampered with or corrupted)."""


class HistoryTamperedError(ModelStoreError):
    """The promotion history fails its checks: a line was edited, removed or added.
    `problem` says what, without the store's path, for answers that leave the machine."""

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message


class ApprovalRequiredError(ModelStoreError):
    """Four eyes: a promotion needs someone else's approval of that version first."""
