"""Request body limit: a body over DISTILLGUARD_API_MAX_BODY_BYTES is refused with 413.

A declared Content-Length over the limit is answered at once, before anything reads the body.
A body sent without a length (chunked) is counted as it arrives; the read that crosses the
limit raises a 413 HTTPException, which the app answers like any other error (JSON `detail`).
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.detail = f"request body over {max_bytes} bytes (DISTILLGUARD_API_MAX_BODY_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and not length.isdigit():
            await self._answer(send, 400, "Content-Length is not a number")
            return
        if length is not None and int(length) > self.max_bytes:
            await self._answer(send, 413, self.detail)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self.detail)
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _answer(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
