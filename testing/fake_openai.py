"""
A local OpenAI-compatible model server on loopback, for the AI gateway's tests and `make bench`
(inbox/ai/gateway.py talks to it through the real `openai` client, as it would to OpenAI or to a
self-hosted model behind vLLM or Ollama).

- `POST /v1/chat/completions` → a `chat.completion` object (choices[0].message.content,
  finish_reason, and `usage` with prompt/completion/total token counts), errors as OpenAI's
  `{"error": {"message", "type", "param", "code"}}`; bearer key required.
- `GET /v1/models` → `{"object": "list", "data": [{"id", "object": "model", ...}]}`.

Every request body is recorded (`fake.requests`, `fake.bodies()`), whatever the answer.

Answers, one planned per request in order (`fake.plan(...)`), then `fake.responder(body)` if set,
then the default: a JSON instance of the requested schema (first enum value, numbers at their
maximum, required properties only) when `response_format` asks for one, else `fake.default_text`.
  text("...")           this text
  answer({...})         this object as JSON text (for a schema)
  INVALID_JSON          text that is not JSON (a model that broke the schema)
  error(500) / 429      an OpenAI-shaped error with this status
  STALL                 record the request and never answer (until the server stops): the
                        client's timeout fires
Each takes `delay=` seconds before the answer; `fake.delay` adds a fixed delay to every answer
(`make bench`: 0.5 s). Token counts are a quarter of the characters (at least 1), or `tokens=`.

Use `running` as a fixture body (it points OPENAI_API_KEY and OPENAI_BASE_URL at the server), or
`serve()` and `settings_for()`; `python -m testing.fake_openai --delay 0.5` runs one on its own
and prints its base URL.
"""

import argparse
import json
import threading
import time
import uuid
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "sk-fake-openai-test-key"  # accepted by the fake and nothing else
MODELS = ("gpt-4o", "gpt-4o-mini")


@dataclass(frozen=True)
class Behaviour:
    kind: str  # text, json, invalid, error, stall
    value: object = None
    delay: float = 0.0
    tokens: tuple[int, int] | None = None


def text(value: str, *, delay: float = 0.0, tokens: tuple[int, int] | None = None) -> Behaviour:
    return Behaviour("text", value, delay, tokens)


def answer(value, *, delay: float = 0.0, tokens: tuple[int, int] | None = None) -> Behaviour:
    return Behaviour("json", value, delay, tokens)


def error(status: int, message: str = "", *, delay: float = 0.0) -> Behaviour:
    return Behaviour("error", (status, message), delay)


INVALID_JSON = Behaviour("invalid", '{"intent": "price", "confidence": ')
STALL = Behaviour("stall")


@dataclass
class Request:
    method: str
    path: str
    headers: dict  # lower-case names
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class FakeOpenAI:
    host: str = "127.0.0.1"
    port: int = 0
    delay: float = 0.0
    default_text: str = "Thank you for your message! We will get back to you shortly."
    responder: object = None  # callable(body: dict) -> Behaviour | None
    requests: list[Request] = field(default_factory=list)
    planned: list[Behaviour] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def plan(self, *behaviours: Behaviour) -> None:
        with self.lock:
            self.planned.extend(behaviours)

    def completions(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def bodies(self) -> list[dict]:
        """The JSON bodies of every chat completion request, in order."""
        return [r.json for r in self.completions()]

    def raw_bodies(self) -> list[str]:
        """The bodies exactly as they arrived (what left the client), as text."""
        return [r.body.decode() for r in self.completions()]

    def _record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def _next(self, body: dict) -> Behaviour:
        with self.lock:
            if self.planned:
                return self.planned.pop(0)
        if self.responder is not None:
            chosen = self.responder(body)
            if chosen is not None:
                return chosen
        schema = _schema_of(body)
        if schema is not None:
            return answer(instance_of(schema))
        return text(self.default_text)


def _schema_of(body: dict) -> dict | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or {}
    return None


def instance_of(schema: dict):
    """A small value that satisfies `schema` (the subset the gateway's schemas use)."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: instance_of(props.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return [instance_of(schema.get("items") or {}) for _ in range(schema.get("minItems", 0))]
    if kind in ("number", "integer"):
        return schema.get("maximum", schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "en"[: schema.get("maxLength", 2)] or "x"


def _tokens(chars: int) -> int:
    return max(1, chars // 4)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body are two writes; with Nagle on, the second waits
    # for the client's delayed ACK (about 40 ms a call), and `make bench` measures the gateway.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {API_KEY}":
            return True
        self._send(
            401,
            {
                "error": {
                    "message": "Incorrect API key provided.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
        )
        return False

    def do_GET(self):
        fake: FakeOpenAI = self.server.fake
        fake._record(
            Request(
                "GET",
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                b"",
                time.monotonic(),
            )
        )
        if self.path.rstrip("/") != "/v1/models":
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        if not self._authorised():
            return
        now = int(time.time())
        data = [{"id": m, "object": "model", "created": now, "owned_by": "fake"} for m in MODELS]
        self._send(200, {"object": "list", "data": data})

    def do_POST(self):
        fake: FakeOpenAI = self.server.fake
        raw = self._read()
        fake._record(
            Request(
                "POST",
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                raw,
                time.monotonic(),
            )
        )
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        if not self._authorised():
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": {"message": "invalid JSON body", "type": "invalid_request"}})
            return
        behaviour = fake._next(body)
        wait = fake.delay + behaviour.delay
        if behaviour.kind == "stall":
            fake.stopping.wait()
            self.close_connection = True
            return
        if wait and fake.stopping.wait(wait):
            self.close_connection = True
            return
        if behaviour.kind == "error":
            status, message = behaviour.value
            self._send(
                status,
                {
                    "error": {
                        "message": message or f"The server had an error ({status}).",
                        "type": "rate_limit_error" if status == 429 else "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        if behaviour.kind == "json":
            content = json.dumps(behaviour.value, ensure_ascii=False)
        else:
            content = str(behaviour.value)
        prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
        tokens_in, tokens_out = behaviour.tokens or (_tokens(prompt_chars), _tokens(len(content)))
        self._send(
            200,
            {
                "id": "chatcmpl-" + uuid.uuid4().hex,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": tokens_in,
                    "completion_tokens": tokens_out,
                    "total_tokens": tokens_in + tokens_out,
                },
            },
        )

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


@contextmanager
def serve(fake: FakeOpenAI | None = None):
    """Serve a FakeOpenAI on loopback in a thread while the block runs."""
    fake = fake or FakeOpenAI()
    server = _Server((fake.host, fake.port), _Handler)
    server.fake = fake
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def settings_for(fake: FakeOpenAI) -> dict:
    """The settings (or a worker's environment variables) that send model calls to `fake`."""
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": fake.base_url}


def running(settings):
    """The body of a fixture: a FakeOpenAI on loopback with the settings pointing at it, a
    one-second client timeout (a stall costs a test a second). In a test module:
    `fake_openai = pytest.fixture(running, name="fake_openai")`."""
    with serve() as fake:
        for name, value in settings_for(fake).items():
            setattr(settings, name, value)
        settings.OPENAI_TIMEOUT_SECONDS = 1
        yield fake


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible server (loopback).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args(argv)
    with serve(FakeOpenAI(port=args.port, delay=args.delay)) as fake:
        print(f"OPENAI_BASE_URL={fake.base_url} OPENAI_API_KEY={API_KEY}", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
