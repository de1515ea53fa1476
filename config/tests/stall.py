"""A loopback TCP server that accepts connections and never says a word: a mail relay or an
API that has stalled. Used by the timeout tests and by `make bench`."""

import contextlib
import socket
import threading


class StallingServer:
    """Listens on 127.0.0.1 (a free port), accepts every connection, holds it open silently
    until closed. `accepted` counts the connections (a retry opens a new one)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "StallingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        for conn in [*self._held, self._listener]:
            with contextlib.suppress(OSError):
                conn.close()
