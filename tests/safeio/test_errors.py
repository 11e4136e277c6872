"""safeio.errors.one_line, the one way every package says an error in one line (it had three homes
and about a dozen inline copies, which disagreed on OSErrors and empty messages)."""

from __future__ import annotations

from safeio.errors import one_line


def test_an_os_error_reads_path_then_reason_and_a_message_is_one_line():
    assert one_line(FileNotFoundError(2, "No such file or directory", "/x/y")) == "/x/y: No such file or directory"
    assert one_line(OSError(18, "Invalid cross-device link", "a", None, "b")) == "a -> b: Invalid cross-device link"
    assert one_line(PermissionError(13, "Permission denied")) == "Permission denied"
    assert one_line(ValueError("VW said:\n  bad option\t--x ")) == "VW said: bad option --x"
    assert one_line(KeyError()) == "KeyError"  # an empty message names the type


def test_typed_names_the_type_first_and_a_string_is_only_collapsed():
    # what a job's failure and a journal write error report (jobs.engine's and journal's former copies)
    assert one_line(ValueError("bad\nvalue"), typed=True) == "ValueError: bad value"
    assert one_line(RuntimeError(), typed=True) == "RuntimeError"
    assert (
        one_line(OSError(28, "No space left on device", "/s/j"), typed=True) == "OSError: /s/j: No space left on device"
    )
    assert one_line("  a\n b  ") == "a b" and one_line("") == ""
