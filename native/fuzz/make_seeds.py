#!/usr/bin/env python3
"""Writes the fuzz seed corpora (native/fuzz/corpus/<target>/) from the repo's real files.

    python3 native/fuzz/make_seeds.py

Seeds stay small (a few KiB) so each run executes fast, yet keep the real files' shapes:
  safetensors      each fixture's real header, shapes cut to a few elements and offsets
                   recomputed (a valid file), plus the untouched header alone;
  config           every config.json and params.json in models/ and test/fixtures;
  tokenizer-model  models/default/tokenizer.model cut to its first pieces (control, byte
                   and merged pieces), with its real trainer and normalizer specs;
  tokenizer-json   the same pieces as tokenizer.json in Mistral's two layouts (legacy
                   normalizer with "a b" merges, Metaspace with [a, b] merges).
"""
import glob
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "native", "fuzz", "corpus")
META = "\u2581"


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors_seeds():
    sizes = {"F32": 4, "BF16": 2, "F16": 2}
    paths = sorted(glob.glob(os.path.join(ROOT, "test", "fixtures", "models", "*", "*.safetensors")))
    for path in paths:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = f.read(n)
        label = os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path).split(".")[0]
        write("safetensors", label + "-header-only", struct.pack("<Q", n) + header)
        table = json.loads(header)
        offset = 0
        small = {}
        for name, entry in list(table.items())[:6]:
            if name == "__metadata__":
                small[name] = entry
                continue
            shape = [min(d, 2) for d in entry["shape"]]
            count = 1
            for d in shape:
                count *= d
            nbytes = count * sizes[entry["dtype"]]
            small[name] = {"dtype": entry["dtype"], "shape": shape, "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        text = json.dumps(small, separators=(",", ":")).encode()
        write("safetensors", label, struct.pack("<Q", len(text)) + text + b"\x3f" * offset)


def config_seeds():
    paths = glob.glob(os.path.join(ROOT, "models", "*", "config.json"))
    paths += glob.glob(os.path.join(ROOT, "test", "fixtures", "models", "*", "config.json"))
    paths += glob.glob(os.path.join(ROOT, "test", "fixtures", "models", "*", "params.json"))
    for path in sorted(paths):
        with open(path, "rb") as f:
            data = f.read()
        write("config", os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path), data)


# --- protobuf wire format --------------------------------------------------------------------

def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """(field, wire, raw bytes of the whole field, payload) for each field of a message."""
    i = 0
    while i < len(b):
        start = i
        key, i = read_varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(b, i)
        elif wire == 1:
            value, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = read_varint(b, i)
            value, i = b[i:i + n], i + n
        elif wire == 5:
            value, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unexpected wire type")
        yield field, wire, b[start:i], value


def piece_of(payload):
    piece, score, kind = "", 0.0, 1
    for field, _, _, value in fields(payload):
        if field == 1:
            piece = value.decode()
        elif field == 2:
            score = struct.unpack("<f", value)[0]
        elif field == 3:
            kind = value
    return piece, score, kind


def tokenizer_seeds():
    with open(os.path.join(ROOT, "models", "default", "tokenizer.model"), "rb") as f:
        model = f.read()
    pieces, rest = [], []
    for field, _, raw, value in fields(model):
        if field == 1:
            pieces.append((raw, piece_of(value)))
        else:
            rest.append(raw)
    # The first control pieces, every byte piece, the best-scored merged pieces and the
    # single characters they are made of, in the file's order.
    controls = [p for p in pieces if p[1][2] in (2, 3)][:16]
    normal = [p for p in pieces if p[1][2] == 1]
    top = [p[1][0] for p in normal if len(p[1][0]) > 1][:48]
    wanted = set(top) | {c for piece in top for c in piece}
    keep = controls + [p for p in pieces if p[1][2] == 6] + [p for p in normal if p[1][0] in wanted]
    small = b"".join(raw for raw, _ in keep) + b"".join(rest)
    write("tokenizer-model", "default-cut", small)
    write("tokenizer-model", "default-cut-no-specs", b"".join(raw for raw, _ in keep))

    vocab = {p: i for i, (_, (p, _, _)) in enumerate(keep)}
    merges = []
    by_score = sorted((p for p in keep if p[1][2] == 1 and len(p[1][0]) > 1), key=lambda p: -p[1][1])
    for _, (piece, _, _) in by_score:
        for k in range(1, len(piece)):
            if piece[:k] in vocab and piece[k:] in vocab:
                merges.append((piece[:k], piece[k:]))
                break
    added = [{"id": i, "content": p, "special": True} for i, (_, (p, _, kind)) in enumerate(keep) if kind in (2, 3)]
    legacy = {
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": META},
            {"type": "Replace", "pattern": {"String": " "}, "content": META}]},
        "pre_tokenizer": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": META}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    write("tokenizer-json", "legacy", json.dumps(legacy, ensure_ascii=False))
    metaspace = dict(legacy)
    metaspace["normalizer"] = None
    metaspace["pre_tokenizer"] = {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": False}
    metaspace["decoder"] = {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": False}
    metaspace["model"] = dict(legacy["model"], merges=[[a, b] for a, b in merges], ignore_merges=True)
    write("tokenizer-json", "metaspace", json.dumps(metaspace, ensure_ascii=False))


safetensors_seeds()
config_seeds()
tokenizer_seeds()
