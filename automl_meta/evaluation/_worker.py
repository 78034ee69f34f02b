"""Entry point of the evaluation worker process (see ``_isolate``).

Reads pickled ``(fn, args, kwargs)`` frames on stdin and answers each with a pickled
:class:`~automl_meta.evaluation._isolate.Outcome` on the original stdout. File
descriptor 1 is pointed at /dev/null so that prints from models cannot corrupt replies.
"""

import os
import pickle
import sys
import traceback

from automl_meta.evaluation._isolate import _HEADER, Outcome, read_exact, write_frame


def _format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]


def main() -> None:
    requests = sys.stdin.buffer.fileno()
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    while True:
        try:
            header = read_exact(requests, _HEADER.size, None)
        except EOFError:
            return
        fn, args, kwargs = pickle.loads(read_exact(requests, _HEADER.unpack(header)[0], None))
        try:
            outcome = Outcome("ok", fn(*args, **kwargs))
        except MemoryError:
            outcome = Outcome("memory", error="MemoryError: the memory limit was reached")
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            outcome = Outcome("failed", error=_format_error(exc))
        write_frame(replies, pickle.dumps(outcome))


if __name__ == "__main__":
    main()
