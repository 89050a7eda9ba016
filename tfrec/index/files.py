"""Writing an index directory all at once: the files go to a temporary sibling directory that
is swapped in when complete, so a crash never leaves a half-written index (every index kind
saves through `write_index_dir`)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def write_index_dir(directory: str | Path, write: Callable[[Path], None]) -> Path:
    """Run `write(tmp)` on a fresh temporary directory next to `directory`, then swap it in
    (the old directory, if any, is removed after the swap).

    Args:
        directory: the index directory (`RunDir.index`).
        write: fills the directory it is given.

    Returns:
        `directory`.

    Example:
    ```python
    write_index_dir(run.index, lambda tmp: np.save(tmp / "embeddings.npy", emb))
    ```
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        write(tmp)
        if directory.exists():
            old = directory.with_name(f".{directory.name}-old-{time.time_ns()}")
            directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory
