"""uvicorn's WebSocket protocol, except that a connection past its read deadline is dropped.

uvicorn answers a missed pong by sending a 1011 close and calling ``transport.close()``. asyncio
closes a transport only once its write buffer is flushed, and a client that stopped reading never
lets it flush: the socket stayed open for good, its ``send`` waiting for room that never came, so
the application's streams on it, their subscriptions and the buffered frames stayed too. Here the
transport is aborted (with a reset: the kernel drops its buffer too) when it still holds unsent
data at that moment: the application sees the
disconnect at once and lets go of everything the socket held (a reader that stops reading is cut
off within ``PREDICTQL_WS_READ_DEADLINE_SECONDS``; what it held meanwhile is bounded by the shared
channel buffer, which skips it, and the transport's high-water mark).
"""

from __future__ import annotations

import contextlib
import socket
import struct

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class DroppingWebSocketProtocol(WebSocketsSansIOProtocol):
    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        if self.transport.get_write_buffer_size():  # the close frame cannot leave: nobody reads
            sock = self.transport.get_extra_info("socket")
            if sock is not None:  # a reset, not a FIN queued behind megabytes the kernel would keep
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
