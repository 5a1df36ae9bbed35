"""The gateway's listening socket: every connection it accepts sends small writes at once."""

from __future__ import annotations

import asyncio
import socket

from errand.server.running import bind_socket


async def test_accepted_connections_have_nagles_algorithm_off() -> None:
    # uvicorn writes a response's headers and its body separately. With Nagle's algorithm on,
    # the body waits for the client to acknowledge the headers, and clients delay that ACK:
    # every request on a kept-alive connection (the phone's, the CLI's) took 40 ms more.
    # asyncio turns the algorithm off only on sockets whose protocol is named TCP.
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listening = bind_socket("127.0.0.1", 0)
    port = listening.getsockname()[1]
    server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(accepted, 30) != 0
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
