"""The one error safeio raises: a user-facing problem with an output folder (one line, no traceback)."""


class OutputFolderError(ValueError):
    """An output folder that artbandit may not write, replace or report (the message says why)."""
