"""Upload size, enforced while the body streams in: a request is cut off with 413 as soon
as it passes its limit (or at once, from Content-Length), before it is all read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body


class UploadLimit(NamedTuple):
    """The configured limit, as the message gives it, and the slack allowed on top of it for
    the multipart framing around the file(s)."""

    configured: int
    slack: int
    variable: str

    @property
    def enforced(self) -> int:
        return self.configured + self.slack


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, limit_for_path: Callable[[str], UploadLimit | None]):
        self.app = app
        self.limit_for_path = limit_for_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for_path(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit.enforced:
            await _send_413(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.enforced:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_413(send, limit)


async def _send_413(send: Send, limit: UploadLimit) -> None:
    body = json.dumps(error_body("upload_too_large", f"the upload is larger than the limit of {limit.configured} "
                                 f"bytes ({limit.variable})")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
