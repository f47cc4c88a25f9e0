#!/usr/bin/env python3
"""The OpenAI-compatible API of `tramontane serve --http` as a client sees it, on a device
machine (standard library only): waits for /v1/models, then asks for a completion and a
streamed chat answer, and prints what came back and how long it took. Exit 1 when any of
them fails or answers with no text.

    scripts/device/http_check.py http://127.0.0.1:8931
"""
import json
import sys
import time
import urllib.error
import urllib.request

base = sys.argv[1].rstrip("/")


def request(path, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data,
                                 headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=timeout)


deadline = time.time() + 90
while True:
    try:
        with request("/v1/models", timeout=5) as r:
            models = json.load(r)
        break
    except (urllib.error.URLError, ConnectionError):
        if time.time() > deadline:
            sys.exit("error: the server did not answer /v1/models within 90 s")
        time.sleep(0.5)
print("models:", [m.get("id") for m in models.get("data", [])])

t0 = time.time()
with request("/v1/completions", {"prompt": "def fibonacci(n):", "max_tokens": 24,
                                 "temperature": 0}) as r:
    done = json.load(r)
text = done["choices"][0]["text"]
print(f"completion in {(time.time() - t0) * 1000:.0f} ms: {text!r}")
print("usage:", done.get("usage"))

t0 = time.time()
pieces, first = [], None
with request("/v1/chat/completions", {"messages": [{"role": "user", "content": "Write hello world in C."}],
                                      "max_tokens": 32, "temperature": 0, "stream": True}) as r:
    for line in r:
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        delta = json.loads(line[6:])["choices"][0].get("delta", {}).get("content")
        if delta:
            first = first or time.time()
            pieces.append(delta)
chat = "".join(pieces)
print(f"chat: {len(pieces)} streamed pieces, first after {((first or time.time()) - t0) * 1000:.0f} ms, "
      f"all in {(time.time() - t0) * 1000:.0f} ms: {chat!r}")
if not text or not chat:
    sys.exit("error: an answer came back empty")
