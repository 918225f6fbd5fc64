"""Server-sent events: the inbox count, so a new referral shows without a reload."""

import asyncio
import json

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from shared.web.session import inbox_count, reads, signed_in
from shared import accounts

router = APIRouter(include_in_schema=False)


@router.get("/events")
async def events(request: Request) -> StreamingResponse:
    operator = signed_in(request)

    async def stream():
        last = None
        while not await request.is_disconnected():
            try:
                await asyncio.to_thread(reads(request).require_active, operator)
            except accounts.AccountInactive:
                return
            count = await asyncio.to_thread(inbox_count, request, operator)
            if count != last:
                yield f"event: inbox\ndata: {json.dumps({'count': count})}\n\n"
                last = count
            await asyncio.sleep(1)
    return StreamingResponse(stream(), media_type="text/event-stream")
