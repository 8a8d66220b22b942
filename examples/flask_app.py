"""A guarded Flask service: auth, limits, injection blocking, PII redaction, audit.

    ravelin keys create --db examples/keys.db --owner alice --scopes chat
    cd examples && RAVELIN_KEYS_DB=keys.db waitress-serve --listen 127.0.0.1:8000 flask_app:app

Settings come from app.config or the environment: RAVELIN_* (see ravelin.policy.Policy).
"""

import logging
import os

from flask import Flask, Response, request
from ravelin.flask import Guard, current_context
from ravelin.keys import SQLiteKeyStore

logging.basicConfig(level=logging.INFO, format="%(message)s")  # audit events, one JSON a line
app = Flask(__name__)
guard = Guard(app, keys=SQLiteKeyStore(os.environ.get("RAVELIN_KEYS_DB", "keys.db")))


def last_message() -> str:
    return request.get_json()["messages"][-1]["content"]


@app.post("/v1/chat")
@guard.protect(scopes=["chat"])
def chat():
    # The stand-in model echoes: input redaction shows in `answer`, output redaction too.
    ctx = current_context()
    return {"answer": last_message(), "key_id": ctx.key_id, "flagged": ctx.flagged}


@app.post("/v1/stream")
@guard.protect(scopes=["chat"])
def stream():
    text = last_message()
    # Four characters at a time: secrets get split across chunks.
    return Response((text[i : i + 4] for i in range(0, len(text), 4)), mimetype="text/plain")


@app.get("/health")
def health():
    return {"ok": True}
