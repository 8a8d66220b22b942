"""A guarded FastAPI service: auth, limits, injection blocking, PII redaction, audit.

    ravelin keys create --db examples/keys.db --owner alice --scopes chat
    cd examples && RAVELIN_KEYS_DB=keys.db uvicorn fastapi_app:app

Settings come from RAVELIN_* variables (see ravelin.policy.Policy), e.g. RAVELIN_RATE_LIMIT.
"""

import logging
import os
from typing import Annotated

from fastapi import FastAPI, Security
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from ravelin.fastapi import Context, Guard
from ravelin.keys import SQLiteKeyStore
from ravelin.policy import Policy

logging.basicConfig(level=logging.INFO, format="%(message)s")  # audit events, one JSON a line
guard = Guard(Policy.load(), keys=SQLiteKeyStore(os.environ.get("RAVELIN_KEYS_DB", "keys.db")))
app = FastAPI(title="guarded example")
guard.install(app)
Chatter = Annotated[Context, Security(guard.require(scopes=["chat"]))]


class Message(BaseModel):
    role: str
    content: str


class Chat(BaseModel):
    messages: list[Message]


@app.post("/v1/chat")
async def chat(body: Chat, ctx: Chatter) -> dict:
    # The stand-in model echoes: input redaction shows in `answer`, output redaction too.
    return {"answer": body.messages[-1].content, "key_id": ctx.key_id, "flagged": ctx.flagged}


@app.post("/v1/stream")
async def stream(body: Chat, ctx: Chatter) -> StreamingResponse:
    text = body.messages[-1].content

    async def chunks():  # four characters at a time: secrets get split across chunks
        for i in range(0, len(text), 4):
            yield text[i : i + 4]

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/health")
async def health() -> dict:
    return {"ok": True}
