"""Entry point of the evaluation worker process (see ``_isolate``).

Argument: the memory limit in MB, or an empty string. Once its imports are done the
worker caps its address space to that much more than it already uses, then says it is
ready. It reads pickled ``(fn, args, kwargs)`` frames on stdin and answers each with a pickled
:class:`~automl_meta.evaluation._isolate.Outcome` on the original stdout, after any
frames of ``return_by`` the call sent. File
descriptor 1 is pointed at /dev/null so that prints from models cannot corrupt replies.
"""

import os
import pickle
import resource
import sys
import traceback

import automl_meta.evaluation  # noqa: F401 - import the model stack before the limit
from automl_meta.evaluation import _isolate
from automl_meta.evaluation._isolate import _HEADER, READY, Outcome, read_exact, write_frame


def _format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    requests = sys.stdin.buffer.fileno()
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    if len(sys.argv) > 1 and sys.argv[1]:
        limit = _address_space_bytes() + int(sys.argv[1]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _isolate._return_by_sink = lambda frame: write_frame(replies, frame)
    write_frame(replies, READY)
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
        try:
            reply = pickle.dumps(outcome)
        except MemoryError:
            reply = pickle.dumps(Outcome("memory", error="MemoryError: the result is too large"))
        write_frame(replies, reply)


if __name__ == "__main__":
    main()
