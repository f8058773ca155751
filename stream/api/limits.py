"""Request body limit: a body over DISTILLGUARD_API_MAX_BODY_BYTES is refused with 413 before
anything reads it.

A declared Content-Length over the limit is answered here at once, with a JSON message that
names the limit. A body sent without a length (chunked) is counted as it arrives by FastAPI's
own `max_body_size` (set to the same limit in app.py), which also answers 413.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                await self._refuse(send, length)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, length: bytes) -> None:
        status, detail = (413, f"request body over {self.max_bytes} bytes "
                               "(DISTILLGUARD_API_MAX_BODY_BYTES)") if length.isdigit() \
            else (400, "Content-Length is not a number")
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
