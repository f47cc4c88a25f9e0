#!/usr/bin/env python3
"""GPU out of memory through the real server, as an editor or an HTTP client meets it.

Standard library only (the GPU machine has Python but no node_modules). Each mode starts
`node dist/cli.js serve ...` with the given options and checks one case:

  lsp-load     serve --stdio; the model's load fails: tramontane/status says "error" with
               one line naming the numbers ("need N MiB, M MiB free of T MiB") and what
               to do; an inline completion fails with that line (RequestFailed); the
               server still answers (ping, status, a second completion) and runs on.
  lsp-session  serve --stdio; the model loads, a document's KV cache does not fit: the
               completion fails with one line (numbers + what to do), and the server
               still answers the next requests the same way and runs on.
  http-load    serve --http; the load fails: stderr has the line, /health answers 200,
               /v1/completions answers 500 with the line, the server runs on.

Prints one line per check ("ok"/"FAIL") and exits 1 if any failed.

  python3 scripts/device/oom_check.py MODE [--advice REGEX] -- SERVE_OPTIONS...
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUMBERS = re.compile(r"need \d+ MiB, \d+ MiB free of \d+ MiB")
failed = 0


def check(ok, what):
    global failed
    failed += not ok
    print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)


def check_line(line, advice, what):
    """The one-line message: GPU memory, the numbers, and what to do."""
    check(isinstance(line, str) and "\n" not in line, f"{what}: one line")
    line = line if isinstance(line, str) else ""
    print(f"       {line}", flush=True)
    check("GPU memory" in line and NUMBERS.search(line) is not None, f"{what}: names GPU memory with the numbers")
    check(re.search(advice, line) is not None, f"{what}: says what to do ({advice})")


def serve(args, stdio):
    return subprocess.Popen(
        ["node", os.path.join(ROOT, "dist", "cli.js"), "serve", *(["--stdio"] if stdio else []), *args],
        stdin=subprocess.PIPE if stdio else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class Lsp:
    """JSON-RPC over the server's stdin/stdout with LSP's Content-Length framing."""

    def __init__(self, proc):
        self.proc = proc
        self.next_id = 0
        self.responses = {}
        self.cond = threading.Condition()
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(proc.stderr), daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            length = None
            while True:
                header = out.readline()
                if not header:
                    return
                header = header.strip()
                if not header:
                    break
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            message = json.loads(out.read(length))
            if "id" in message and "method" not in message:
                with self.cond:
                    self.responses[message["id"]] = message
                    self.cond.notify_all()
            elif "id" in message:  # a request from the server (configuration, ...): no result
                self._write({"jsonrpc": "2.0", "id": message["id"], "result": None})

    def _write(self, message):
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method, params):
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params, timeout=60):
        """The response: {"result": ...} or {"error": {...}}; None on timeout."""
        self.next_id += 1
        rid = self.next_id
        self._write({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        deadline = time.time() + timeout
        with self.cond:
            while rid not in self.responses:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.responses.pop(rid)


def complete(lsp, uri, text):
    lines = text.split("\n")
    return lsp.request(
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": uri},
            "position": {"line": len(lines) - 1, "character": len(lines[-1])},
            "context": {"triggerKind": 1},
        },
        timeout=120,
    )


def lsp_case(mode, serve_args, advice):
    proc = serve(serve_args, stdio=True)
    lsp = Lsp(proc)
    t0 = time.time()
    try:
        init = lsp.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}, "initializationOptions": {"settings": {}}})
        check(init is not None and "result" in init, "initialize answered")
        lsp.notify("initialized", {})
        status = None
        while time.time() - t0 < 600:
            status = (lsp.request("tramontane/status", {}) or {}).get("result") or {}
            if status.get("state") in ("ready", "error"):
                break
            time.sleep(0.2)
        print(f"       model status after {time.time() - t0:.1f} s: {status.get('state')}", flush=True)
        uri = "file:///work/oom.py"
        text = "import math\n\ndef area(r):\n    return "
        lsp.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
        if mode == "lsp-load":
            check(status.get("state") == "error", "the load failed and the status says so")
            check_line(status.get("error"), advice, "status")
        else:
            check(status.get("state") == "ready", "the model loaded")
        for attempt in (1, 2):
            answer = complete(lsp, uri, text)
            error = (answer or {}).get("error") or {}
            check(answer is not None and error.get("code") == -32803,
                  f"completion {attempt} answered with RequestFailed: {json.dumps(answer)[:160]}")
            if attempt == 1:
                check_line(re.sub(r"^model failed to load: ", "", error.get("message", "")), advice, "completion error")
            ping = lsp.request("tramontane/ping", {}, timeout=10)
            check(ping is not None and ping.get("result") == {}, f"ping answered after completion {attempt}")
        check(proc.poll() is None, "the server is still running")
        lsp.request("shutdown", None, timeout=10)
        lsp.notify("exit", None)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log = b"".join(lsp.stderr).decode("utf-8", "replace").strip().splitlines()
        for line in log[-5:]:
            print(f"       server stderr: {line}")


def http_case(serve_args, advice):
    proc = serve(["--http", "127.0.0.1:0", "--no-auth", *serve_args], stdio=False)
    stderr = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    try:
        base = None
        t0 = time.time()
        while time.time() - t0 < 600 and proc.poll() is None:
            text = b"".join(stderr).decode("utf-8", "replace")
            match = re.search(r"on (http://127\.0\.0\.1:\d+)/v1", text)
            if match and "model failed to load" in text:
                base = match.group(1)
                break
            time.sleep(0.2)
        text = b"".join(stderr).decode("utf-8", "replace")
        check(base is not None, f"the server listens and logs the load failure ({time.time() - t0:.1f} s)")
        line = next((l for l in text.splitlines() if "model failed to load" in l), "")
        check_line(re.sub(r"^tramontane: model failed to load: ", "", line), advice, "stderr")
        if base is None:
            return
        with urllib.request.urlopen(base + "/health", timeout=10) as r:
            check(r.status == 200, "/health answers 200")
        request = urllib.request.Request(
            base + "/v1/completions",
            data=json.dumps({"prompt": "x", "max_tokens": 1}).encode(),
            headers={"content-type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=30)
            check(False, "/v1/completions refused")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            check(e.code == 500, f"/v1/completions answers {e.code}")
            check_line(body.get("error", {}).get("message"), advice, "HTTP error")
        check(proc.poll() is None, "the server is still running")
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("lsp-load", "lsp-session", "http-load"))
    ap.add_argument("--advice", help="what the line must say to do (a regular expression)")
    ap.add_argument("serve_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    serve_args = a.serve_args[1:] if a.serve_args[:1] == ["--"] else a.serve_args
    advice = a.advice or ("quantized model file, or the CPU" if a.mode.endswith("load") else "smaller (context|slack).*or the CPU")
    print(f"== {a.mode}: serve {' '.join(serve_args)}", flush=True)
    if a.mode == "http-load":
        http_case(serve_args, advice)
    else:
        lsp_case(a.mode, serve_args, advice)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
