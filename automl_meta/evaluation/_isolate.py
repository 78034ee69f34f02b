"""Run functions in a worker process that can be killed: time and memory limits.

A runaway fit cannot be stopped from inside its own thread, so limited work runs in a
separate Python process (``python -m automl_meta.evaluation._worker``) that is killed
when its time is up and started again on the next call. The worker is persistent, so
its start-up (imports) is paid once, not per evaluation, and is not counted against a
call's time limit (the worker says when it is ready); being a fresh interpreter, it
neither re-imports the user's ``__main__`` nor inherits the parent's OpenMP threads.
Memory is capped with ``RLIMIT_AS``, set by the worker once its imports are done.

A call can also set itself an earlier end as it goes (:func:`return_by`): past it, and
past the seconds the worker took to start (what the kill costs: a call that would end
within them is let end), the worker is killed and the call returns the value it named
for that case.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_HEADER = struct.Struct("!Q")
READY = b"ready"
#: Starts a frame that the call in progress sends before its reply (:func:`return_by`).
RETURN_BY = b"return by\n"
START_TIMEOUT = 300.0  # seconds for a worker to import its modules on a loaded machine


@dataclass
class Outcome:
    """What happened in the worker: ``ok`` with a value, or why not."""

    status: str  # "ok", "failed", "timeout", "memory"
    value: Any = None
    error: str | None = None


#: In a worker process, sends a :data:`RETURN_BY` frame to the parent; else None.
_return_by_sink: Callable[[bytes], None] | None = None


def return_by(seconds: float | None, value: Any = None) -> None:
    """Called by a function running in a worker (:func:`run_limited`): if it has not
    returned ``seconds`` from now, plus the seconds the worker took to start (the
    price of killing it, so that a function ending within them is not killed), the
    worker is killed and the call's outcome is ``ok`` with ``value``, as if the
    function had returned it (unless the call's own time limit comes first). A later
    call replaces it; ``seconds=None`` takes it back. In any other process, where
    nothing can stop the function, it does nothing."""
    if _return_by_sink is not None:
        _return_by_sink(RETURN_BY + pickle.dumps((seconds, value)))


def write_frame(fd: int, payload: bytes) -> None:
    for data in (_HEADER.pack(len(payload)), payload):  # no concatenated copy of payload
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]


def read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """Read ``n`` bytes; None when the deadline passes first. EOFError when the peer died."""
    chunks, remaining = [], n
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                return None
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("worker closed its pipe")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class Worker:
    """A persistent worker process; :meth:`call` runs one function in it under limits."""

    def __init__(self, memory_limit_mb: int | None = None, threads: int = 1):
        self.memory_limit_mb = memory_limit_mb
        self.threads = threads
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        #: Seconds the last start took (until ready): what killing the worker costs.
        self.start_seconds = 0.0

    def _start(self) -> subprocess.Popen:
        threads = str(self.threads)
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads)
        limit = "" if self.memory_limit_mb is None else str(int(self.memory_limit_mb))
        proc = subprocess.Popen(
            [sys.executable, "-m", "automl_meta.evaluation._worker", limit],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            header = read_exact(proc.stdout.fileno(), _HEADER.size,
                                time.monotonic() + START_TIMEOUT)
            ready = header is not None and read_exact(
                proc.stdout.fileno(), _HEADER.unpack(header)[0], None) == READY
        except EOFError:
            ready = False
        except BaseException:  # interrupted while it starts: no worker left behind
            proc.kill()
            proc.wait()
            raise
        if not ready:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the evaluation worker did not start (exit code {proc.poll()})")
        return proc

    def start(self) -> None:
        """Start the process if it is not running; a failure is left for the next
        :meth:`call` to report (it tries again)."""
        with self._lock, contextlib.suppress(RuntimeError):
            self._ensure_started()

    def start_in_background(self) -> None:
        """:meth:`start` in a thread of its own, while the caller does other work."""
        threading.Thread(target=self.start, daemon=True, name="automl_meta worker start").start()

    def _ensure_started(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            began = time.monotonic()
            self._proc = self._start()
            self.start_seconds = time.monotonic() - began
        return self._proc

    def call(self, fn: Callable, *args, time_limit: float | None = None, **kwargs) -> Outcome:
        """Run ``fn(*args, **kwargs)`` in the worker; never raises for ``fn``'s failures."""
        with self._lock:
            try:
                proc = self._ensure_started()
            except RuntimeError as exc:
                return Outcome("failed", error=str(exc))
            deadline = None if time_limit is None else time.monotonic() + time_limit
            early = None  # (monotonic time, value) of the call's own return_by
            try:
                write_frame(proc.stdin.fileno(), pickle.dumps((fn, args, kwargs)))
                while True:
                    wait = deadline if early is None else (
                        early[0] if deadline is None else min(deadline, early[0]))
                    header = read_exact(proc.stdout.fileno(), _HEADER.size, wait)
                    body = None if header is None else read_exact(
                        proc.stdout.fileno(), _HEADER.unpack(header)[0], None)
                    if body is None or not body.startswith(RETURN_BY):
                        break
                    seconds, value = pickle.loads(body[len(RETURN_BY):])
                    early = None if seconds is None else (
                        time.monotonic() + seconds + self.start_seconds, value)
            except (EOFError, BrokenPipeError):
                self.close()
                code = proc.returncode
                status = "memory" if code == -9 else "failed"
                return Outcome(status, error=f"worker process died (exit code {code})")
            except BaseException:
                # Interrupted here (Ctrl-C): the worker would go on with the call and its
                # reply would be read as the next call's.
                self.close()
                raise
            if body is None:
                self.close()
                if early is not None and (deadline is None or early[0] < deadline):
                    # The caller goes on (the search's next trial): its worker starts now.
                    self.start_in_background()
                    return Outcome("ok", early[1])
                return Outcome("timeout", error=f"stopped after {time_limit:g} s")
            try:
                return pickle.loads(body)
            except Exception as exc:  # noqa: BLE001 - a garbled reply must not end the caller
                self.close()
                return Outcome("failed", error=f"unreadable reply from the worker: {exc}")

    def close(self) -> None:
        """Stop the worker process (a later call starts a new one)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                stream.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass


_workers: dict[tuple, Worker] = {}
_workers_lock = threading.Lock()


def run_limited(
    fn: Callable,
    *args,
    time_limit: float | None = None,
    memory_limit_mb: int | None = None,
    **kwargs,
) -> Outcome:
    """Call ``fn(*args, **kwargs)`` in a worker process under the given limits.

    ``fn`` and its arguments must be picklable. Each thread has its own worker, so
    threads calling this run in parallel. The :class:`Outcome` says ``ok``, ``failed``
    (with the error text), ``timeout`` or ``memory``.
    """
    return _worker(memory_limit_mb).call(fn, *args, time_limit=time_limit, **kwargs)


def prestart(memory_limit_mb: int | None = None) -> None:
    """Start the calling thread's worker for :func:`run_limited` in the background, so
    that its first call does not wait for the process and its imports (a second or
    two) while the caller does other work first."""
    _worker(memory_limit_mb).start_in_background()


def _worker(memory_limit_mb: int | None) -> Worker:
    """The calling thread's worker with that memory limit."""
    key = (threading.get_ident(), memory_limit_mb)
    with _workers_lock:
        worker = _workers.get(key)
        if worker is None:
            worker = _workers[key] = Worker(memory_limit_mb)
    return worker
