"""A TCP proxy that adds round-trip time (and can cut connections), and a server that never answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

__all__ = ["LatencyProxy", "SilentServer", "free_port"]

_HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on now, on the loopback."""
    with socket.socket() as s:
        s.bind((_HOST, 0))
        return s.getsockname()[1]


class LatencyProxy:
    """Forwards 127.0.0.1:``port`` to ``target`` with ``rtt`` seconds of round-trip time.

    Each direction delays every chunk by half the RTT, in order, with no bandwidth limit; a new connection
    first waits one RTT (the TCP handshake a real network costs).  ``broken = True`` makes it cut every
    open connection and refuse data on new ones until it is set back: a network that drops.
    """

    def __init__(self, target_port: int, rtt: float = 0.040) -> None:
        self.target_port, self.rtt = target_port, rtt
        self.port = 0
        self.connections = 0  # accepted so far
        self._broken = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    @property
    def broken(self) -> bool:
        return self._broken

    @broken.setter
    def broken(self, value: bool) -> None:
        self._broken = value
        if value and self._loop is not None:
            self._loop.call_soon_threadsafe(self._cut_all)

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()

    def __enter__(self) -> LatencyProxy:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._handle, _HOST, 0))
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            loop.run_forever()
            server.close()
            self._cut_all()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="latency-proxy", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the latency proxy did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await asyncio.sleep(self.rtt)
            if self._broken:
                return
            up_reader, up_writer = await asyncio.open_connection(_HOST, self.target_port)
            self._writers.add(up_writer)
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                self._writers.discard(up_writer)
                up_writer.transport.abort()
        except (ConnectionError, OSError, asyncio.CancelledError):  # cut, refused, or the proxy stops
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy with a delay line: each chunk is written half an RTT after it was read, in order."""
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if self._broken:
                    writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(Exception):
                writer.write_eof()

        task = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(1 << 16):
                if self._broken:
                    break
                queue.put_nowait((time.monotonic() + self.rtt / 2, data))
        finally:
            queue.put_nowait(None)
            await task


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers (a server that hangs)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._held: list[socket.socket] = []
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    def __enter__(self) -> SilentServer:
        self._sock.bind((_HOST, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(conn)  # kept open, never read from or written to

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._sock.close()
