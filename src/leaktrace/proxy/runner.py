# mypy: disable-error-code="no-untyped-call"
"""mitmproxy in-process, through its Python API, on its own event loop in a thread.

A thread (not the caller's loop) so that synchronous harnesses and the CLI can
drive it the same way: start, wait until it listens, stop. mitmproxy keeps
its current master in a module global, so one process runs one proxy at a
time; a second start while one runs is refused rather than corrupted.

Whether the thread has finished is an Event the thread sets last, never
``Thread.join``/``is_alive``: on Python 3.11 a Ctrl-C that lands while the
main thread waits in ``join`` can leave a thread that still runs marked as
stopped (CPython's handling of an interrupted ``join``), after which
``stop`` no longer waited for mitmproxy to shut down, and its addons' done
hooks were cut off with the process: a ``--save`` file was left empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from mitmproxy import addons as mitm_addons
from mitmproxy import master, options

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_running_lock = threading.Lock()


class ProxyStartError(RuntimeError):
    """The proxy could not start (bad option, port in use); the message says why."""


class ProxyRunner:
    def __init__(self, opts: Mapping[str, Any], addons: Sequence[object] = ()) -> None:
        self._opts = dict(opts)
        self._addons = list(addons)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master: master.Master | None = None
        self._ready = threading.Event()
        self._finished = threading.Event()  # set by the proxy thread as its last step
        self._error: BaseException | None = None
        self.listen_addrs: list[tuple[str, int]] = []
        self._holds_lock = False

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        if not _running_lock.acquire(blocking=False):
            raise ProxyStartError("a leaktrace proxy already runs in this process")
        self._holds_lock = True
        self._thread = threading.Thread(
            target=self._thread_main, name="leaktrace-proxy", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ProxyStartError(f"the proxy did not start within {timeout:.0f} s")
        if self._error is not None or not self.listen_addrs:
            error = self._error
            self.stop()
            raise ProxyStartError(f"the proxy did not start: {error or 'no listening address'}")

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the proxy stops by itself; True when it has."""
        if self._thread is None:
            return True
        return self._finished.wait(timeout)

    def stop(self) -> None:
        loop, mst = self._loop, self._master
        if loop is not None and mst is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has just finished
                loop.call_soon_threadsafe(mst.shutdown)
        if self._thread is not None and self._finished.wait(STOP_TIMEOUT_S):
            self._thread.join()  # it has returned from its last step: no wait left
        if self._holds_lock:
            self._holds_lock = False
            _running_lock.release()

    # -- proxy thread -------------------------------------------------------

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the starting thread, never lost
            self._error = exc
        finally:
            self._ready.set()
            loop.close()
            self._finished.set()

    async def _main(self) -> None:
        opts = options.Options()
        mst = master.Master(opts)
        mst.addons.add(*mitm_addons.default_addons())
        mst.addons.add(*self._addons)
        try:
            opts.update(**self._opts)
        except Exception as exc:
            self._error = exc
            return
        self._master = mst
        run = asyncio.create_task(mst.run())
        server = mst.addons.get("proxyserver")
        while not run.done():
            if server is not None and server.is_running:
                self.listen_addrs = [(str(a[0]), int(a[1])) for a in server.listen_addrs()]
                break
            await asyncio.sleep(0.02)
        if run.done() and run.exception() is not None:
            self._error = run.exception()
        elif server is not None and server.is_running and not self.listen_addrs:
            self._error = ProxyStartError("proxy servers failed to start; see the log")
        self._ready.set()
        await run
