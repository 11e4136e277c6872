"""safeio: the few file-system rules every artbandit package shares, in one dependency-free home.

`imaging`, `bandit` and `simulations` never import each other's internals for these; they all import
this package (standard library only), so atomic writes, output-folder ownership and JSON lines
behave the same everywhere:

- `safeio.atomic`: write a file or a whole folder so that a crash never leaves it half-written,
  and swap a folder into place so that the path never stands without a complete version.
- `safeio.outdir`: an output folder is replaced only if artbandit made it (a marker file), may not
  be or contain an input, a different input's output is never reported as this one's, and
  replacing it keeps the files artbandit did not write (the marker lists its own).
- `safeio.jsonl`: JSON lines, read and written one way.
- `safeio.progress`: the progress protocol (libraries report done/total/unit, the CLI draws).
"""

from safeio.atomic import atomic_dir, write_bytes_atomic, write_text_atomic
from safeio.errors import OutputFolderError
from safeio.jsonl import iter_jsonl, write_jsonl_atomic
from safeio.outdir import OutputFolder
from safeio.progress import Progress, no_progress

__all__ = [
    "OutputFolder",
    "OutputFolderError",
    "Progress",
    "atomic_dir",
    "iter_jsonl",
    "no_progress",
    "write_bytes_atomic",
    "write_jsonl_atomic",
    "write_text_atomic",
]
