"""Progress bars (tqdm) that stay readable in log files.

tqdm redraws a bar up to ten times a second. In a terminal each redraw replaces the last;
written to a file or a CI log, each one is kept, and an hour's build or search leaves
thousands of them. Where the stream is not a terminal (and not a notebook's widget), the
bars here redraw at most every :data:`LOG_INTERVAL` seconds; they always draw their
final state when they close.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

#: Seconds between redraws of a bar written to something other than a terminal.
LOG_INTERVAL = 30.0


def progress_bar(*args, **kwargs) -> tqdm:
    """``tqdm.auto.tqdm(*args, **kwargs)``, with ``mininterval=LOG_INTERVAL`` unless its
    stream (``file``, default stderr) is a terminal or the bar is a notebook widget.

    Postfixes should be set with ``refresh=False``: a refresh ignores ``mininterval``.
    """
    stream = kwargs.get("file") or sys.stderr
    terminal = getattr(stream, "isatty", lambda: False)()
    widget = any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)
    if not terminal and not widget:
        kwargs.setdefault("mininterval", LOG_INTERVAL)
    return tqdm(*args, **kwargs)
