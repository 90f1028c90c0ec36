"""The scripted server's faults: which request gets the next fault of
``fault_every``/``fault_cycle`` (the soak script's load), a scripted HTTP error, the
mid-stream faults (a cut connection, an error event, a malformed chunk), and the raw
mode that writes a response body given byte for byte (``raw_chunks``, the SSE fuzz
tests' arbitrary streams, in the pieces given)."""

from __future__ import annotations

import asyncio
import base64

from aiohttp import web

from openaiperf.testing.scripted_server.script import Script
from openaiperf.testing.scripted_server.stream import sse


def injected_fault(script: Script, arrived: int) -> str | None:
    """The fault the ``arrived``-th request gets (counting from 1), or None."""
    if not script.fault_every or arrived % script.fault_every:
        return None
    return script.fault_cycle[(arrived // script.fault_every - 1) % len(script.fault_cycle)]


def http_error(script: Script) -> web.Response:
    """The scripted HTTP error (a 429 with ``Retry-After``)."""
    assert script.http_status
    headers = {"Retry-After": str(script.retry_after_s)} if script.http_status == 429 else None
    return web.json_response({"error": {"message": f"scripted HTTP {script.http_status}"}},
                             status=script.http_status, headers=headers)


async def mid_stream_fault(request: web.Request, response: web.StreamResponse, script: Script, sent: int) -> bool:
    """Write the fault due after ``sent`` tokens, if any (True: the response has ended)."""
    if script.cut_after is not None and sent >= script.cut_after:
        if request.transport is not None:
            request.transport.close()
        return True
    if script.error_after is not None and sent >= script.error_after:
        await response.write(sse({"error": {"message": "scripted error mid-stream", "code": 500}}))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return True
    if script.malformed_after is not None and sent >= script.malformed_after:
        await response.write(b"data: {not json\n\n")
        await response.write_eof()
        return True
    return False


async def respond_raw(request: web.Request, script: Script) -> web.StreamResponse:
    """The response body of ``raw_chunks``, written piece by piece."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        for piece in script.raw_chunks or ():
            await response.write(base64.b64decode(piece))
            if script.raw_gap_ms:
                await asyncio.sleep(script.raw_gap_ms / 1000)
        if script.raw_cut:
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client stopped reading (a malformed stream ends the request): as a server sees it
    return response
