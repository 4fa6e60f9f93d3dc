"""The asyncio HTTP/1.1 server: keep-alive connections, `Connection: close`, Content-Length
bodies; plus the two ways to run it in-process (`serve`, blocking; `start_in_thread`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from .app import Simulator
from .client import SimulatorClient, simulator_url
from .wire import BadRequest, Request, Response, encode_response, parse_head, text_response

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
#: 50,000 messages in one POST are ~10 MB
MAX_BODY_BYTES = 256 * 1024 * 1024
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """The next request on the connection, or None when the client closed it between requests.
    Raises BadRequest."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("truncated request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large", 413) from None
    request, length = parse_head(head)
    if length > MAX_BODY_BYTES:
        raise BadRequest("request body too large", 413)
    if length:
        if request.headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.body = await reader.readexactly(length)
    return request


class SimulatorServer:
    """Serves one `Simulator` on a listening socket; `close` also drops open connections."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._pusher: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen, and push; return the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_HEAD_BYTES)
        self._pusher = asyncio.ensure_future(self.simulator.pusher.run())
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is None:
            return
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._exchange(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request
        except asyncio.CancelledError:
            # `close` cancels us; ending normally spares Python 3.11's stream callback from
            # calling task.exception() on a cancelled task (it logs a spurious traceback)
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer requests in order until the client closes or asks to."""
        while True:
            try:
                request = await read_request(reader, writer)
            except BadRequest as exc:
                writer.write(encode_response(text_response(exc.status, str(exc)), False))
                return
            if request is None:
                return
            response = await self._answer(request)
            if response is None:
                return  # a `fault_timeout`: close without answering
            writer.write(encode_response(response, request.keep_alive))
            await writer.drain()
            if not request.keep_alive:
                return

    async def _answer(self, request: Request) -> Response | None:
        try:
            return await self.simulator.handle(request)
        except Exception as exc:  # a simulator bug must not look like a hung gateway
            log.exception("simulator failed on %s %s", request.method, request.path)
            return text_response(500, f"simulator bug: {exc!r}")


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    config: dict[str, Any] | None = None,
    ready: Callable[[int], None] | None = None,
    *,
    clock: Callable[[], float] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (blocking). `ready(port)` is called once listening.
    Signals are only caught in the main thread; elsewhere use `start_in_thread`."""
    asyncio.run(_serve_until_signal(host, port, config or {}, ready, clock))


async def _serve_until_signal(
    host: str, port: int, config: dict[str, Any], ready: Callable[[int], None] | None, clock: Callable[[], float] | None
) -> None:
    simulator = Simulator(clock)
    simulator.configure(config)
    server = SimulatorServer(simulator)
    bound_port = await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        # outside the main thread this fails: then it runs until the process ends
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        if ready is not None:
            ready(bound_port)
        await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await server.close()


class RunningSimulator:
    """A simulator serving from a background thread with its own event loop."""

    def __init__(self, host: str, port: int, config: dict[str, Any], clock: Callable[[], float] | None = None) -> None:
        self.host = host
        self.port = 0
        self.simulator = Simulator(clock)
        self.simulator.configure(config)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, args=(port,), name="statuswatch-simulator", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError("the simulator did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the simulator failed to start: {self._error!r}") from self._error

    @property
    def url(self) -> str:
        return simulator_url(self.host, self.port)

    @property
    def client(self) -> SimulatorClient:
        return SimulatorClient(self.url)

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(STOP_TIMEOUT_S)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, port: int) -> None:
        try:
            asyncio.run(self._main(port))
        except BaseException as exc:
            self._error = exc
            self._started.set()

    async def _main(self, port: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = SimulatorServer(self.simulator)
        self.port = await server.start(self.host, port)
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, clock: Callable[[], float] | None = None, **config: Any
) -> RunningSimulator:
    """Start a simulator in a background thread; `config` as for `/_sim/config`.
    `clock` (epoch seconds; e.g. `Clock(start_s=...)`) lets tests move time by hand."""
    return RunningSimulator(host, port, config, clock)
