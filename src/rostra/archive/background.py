"""Reading an archive in a second process, so parsing and sanitising overlap the writes.

The reader runs in a child process started with ``spawn`` (no state of the parent is copied)
and sends its records back in chunks through a pipe: the child is at most a couple of chunks
ahead, so memory stays flat whatever the file's size. Records arrive in file order
with the number of bytes read so far, for a progress bar. An ``ArchiveError`` in the child is
raised again in the parent with the same message; the child stops when the parent stops
reading.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import pickle
import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from rostra.archive.records import ArchiveError, ArchiveRecord

Reader = Callable[[IO[bytes]], Iterator[ArchiveRecord]]
Progress = Callable[[int], None]

#: Records per message between the processes.
CHUNK = 1000
#: Messages the child may be ahead of the writer: more than one import batch (5,000), so
#: the child keeps reading while the writer commits.
AHEAD = 8
_F_SETPIPE_SZ = 1031
#: Files smaller than this are read in the importing process: starting a child costs more.
MIN_BYTES = 8 * 1024 * 1024
_POLL_S = 1.0
_LAST = b"L"  # marks the child's last message (end or error) ahead of its pickle


class _Counting:
    """A binary file that counts the bytes read from it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.done += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.raw.readline(size)
        self.done += len(data)
        return data


def read_file(
    read: Reader,
    path: Path,
    *,
    on_progress: Progress | None = None,
    background: bool | None = None,
) -> Iterator[ArchiveRecord]:
    """The records ``read`` finds in ``path``; ``on_progress`` gets the bytes read so far.

    ``background`` None reads in a child process when the file is at least ``MIN_BYTES``.
    """
    if background is None:
        background = path.stat().st_size >= MIN_BYTES
    if background:
        yield from _read_in_child(read, path, on_progress)
        return
    with path.open("rb") as raw:
        stream = _Counting(raw)
        reported = 0
        for record in read(stream):  # type: ignore[arg-type]
            if on_progress is not None and stream.done != reported:
                reported = stream.done
                on_progress(reported)
            yield record
        if on_progress is not None:
            on_progress(stream.done)


def _read_in_child(
    read: Reader, path: Path, on_progress: Progress | None
) -> Iterator[ArchiveRecord]:
    context = multiprocessing.get_context("spawn")
    incoming, outgoing = context.Pipe(duplex=False)
    _widen(incoming)
    child = context.Process(target=_produce, args=(read, str(path), outgoing), daemon=True)
    child.start()
    outgoing.close()
    # A thread takes messages off the pipe as they come, so the child keeps reading while
    # this process writes a whole batch; unpickling stays on the consuming thread.
    waiting: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
    receiver = threading.Thread(target=_receive, args=(incoming, waiting), daemon=True)
    receiver.start()
    try:
        while True:
            try:
                message = waiting.get(timeout=_POLL_S)
            except queue.Empty:
                if not child.is_alive() and waiting.empty() and not receiver.is_alive():
                    raise ArchiveError(_stopped(child.exitcode)) from None
                continue
            if message is None:
                raise ArchiveError(_stopped(child.exitcode))
            kind, payload, done = pickle.loads(message.removeprefix(_LAST))
            if on_progress is not None:
                on_progress(done)
            if kind == "records":
                yield from payload
            elif kind == "end":
                break
            elif kind == "invalid":
                raise ArchiveError(payload)
            else:
                raise RuntimeError(f"the archive reader failed:\n{payload}")
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        incoming.close()  # the receiver, if blocked, gets an error and ends
        while receiver.is_alive():
            try:
                waiting.get_nowait()  # make room if it waits to put
            except queue.Empty:
                receiver.join(0.05)


def _stopped(exitcode: int | None) -> str:
    return f"the archive reader stopped unexpectedly (exit code {exitcode})"


def _receive(incoming: Any, waiting: queue.Queue[bytes | None]) -> None:
    """Move messages from the pipe to ``waiting`` until the end one; None if the pipe broke."""
    while True:
        try:
            message = incoming.recv_bytes()
        except (EOFError, OSError):
            waiting.put(None)
            return
        waiting.put(message)
        if message.startswith(_LAST):
            return


def _widen(connection: Any) -> None:
    """Ask for a 1 MiB pipe buffer (Linux), so a chunk crosses in one read; else keep it."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(connection.fileno(), _F_SETPIPE_SZ, 1 << 20)


def _produce(read: Reader, path: str, outgoing: Any) -> None:
    """The child: read ``path`` and send its records in chunks, then ``end`` or the error.

    Sending happens on the reading thread: a feeder thread (``multiprocessing.Queue``) would
    fight it for the GIL at every partial pipe write and halve the reading speed."""

    def send(kind: str, payload: Any, done: int) -> None:
        message = pickle.dumps((kind, payload, done), pickle.HIGHEST_PROTOCOL)
        outgoing.send_bytes(message if kind == "records" else _LAST + message)

    chunk: list[ArchiveRecord] = []
    stream: _Counting | None = None
    try:
        with open(path, "rb") as raw:
            stream = _Counting(raw)
            for record in read(stream):  # type: ignore[arg-type]
                chunk.append(record)
                if len(chunk) >= CHUNK:
                    send("records", chunk, stream.done)
                    chunk = []
            if chunk:
                send("records", chunk, stream.done)
        send("end", None, stream.done)
    except ArchiveError as exc:
        done = 0 if stream is None else stream.done
        if chunk:  # what was read before the error is imported, as in one process
            send("records", chunk, done)
        send("invalid", exc.message, done)
    except BrokenPipeError:
        pass  # the parent stopped reading
    except Exception:  # noqa: BLE001 - anything else goes back to the parent as text
        send("crash", traceback.format_exc(), 0 if stream is None else stream.done)
    outgoing.close()
