"""Training data for the default model: reads the token files written by prepare.cjs and
builds rows of next-token (LM) and fill-in-the-middle (FIM) examples.

FIM uses Mistral's suffix-first layout (what mistral-common produces for Codestral and
what the Tramontane server sends):

    [BOS] [SUFFIX] suffix... [PREFIX] prefix... | middle... [EOS]

Prefix, middle and suffix are each tokenized without the SentencePiece dummy prefix.
Cut points are either whole lines or characters inside a line; '\\n' is a byte-fallback
token that no merge touches, so every line-aligned piece is a slice of the file's token
stream, and only the one line with the cursor needs separate tokenization — prepare.cjs
stores those fragments (records [line, A, B, C]: A = text before the cursor, B = the
middle's part of the line, C = the rest of the line).

Instruction rows pack whole exchanges mined by instructions.cjs, already in the server's
chat layout: [BOS] [INST] question [/INST] answer [EOS]. With explain_answer
"first-paragraph" an Explain answer ends after its first paragraph (see
first_paragraph_length).
"""
import json
import os
import re

import numpy as np

ROW_FIELDS = 6  # token offset, token count, language, aux offset, aux length, bytes


class Split:
    def __init__(self, root, name):
        self.tokens = np.fromfile(os.path.join(root, f"{name}_tokens.bin"), dtype=np.uint16)
        self.aux = np.fromfile(os.path.join(root, f"{name}_aux.bin"), dtype=np.uint16)
        self.rows = np.fromfile(os.path.join(root, f"{name}_files.bin"), dtype=np.uint32).reshape(-1, ROW_FIELDS).astype(np.int64)
        self.n = len(self.rows)
        self.lang = self.rows[:, 2]
        self.nbytes = self.rows[:, 5]

    def stream(self, i):
        off, n = self.rows[i, 0], self.rows[i, 1]
        return self.tokens[off:off + n]

    def aux_of(self, i):
        """(first line without dummy prefix, [(line, A, B, C), ...])"""
        a = self.aux[self.rows[i, 3]: self.rows[i, 3] + self.rows[i, 4]]
        n0 = int(a[0])
        line0 = a[1:1 + n0]
        p = 1 + n0
        nrec = int(a[p]); p += 1
        recs = []
        for _ in range(nrec):
            L, na, nb, nc = (int(x) for x in a[p:p + 4]); p += 4
            A = a[p:p + na]; p += na
            B = a[p:p + nb]; p += nb
            C = a[p:p + nc]; p += nc
            recs.append((L, A, B, C))
        return line0, recs


# A line that opens a parameter/returns (or examples, notes) section of a docstring or doc
# comment: Sphinx fields (":param x:", ":returns:"), tags ("@param", "@returns"), reST
# directives (".. note::"), doctests (">>>"), and Google/NumPy headings ("Args:",
# "Returns:", "Parameters" alone on its line). Prose such as "Returns the sum of ..." at a
# line start is no heading: a heading word must end the line or be followed by ':'.
SECTION_LINE = re.compile(
    r"\s*(?::(?:param|parameter|arg|argument|key|keyword|kwarg|type|returns?|rtype|raises?|except|exception|yields?|ytype|ivar|cvar|var)\b"
    r"|@[A-Za-z]+|\.\. |>>>"
    r"|(?:Args|Arguments|Parameters|Params|Returns?|Raises|Yields?|Examples?|Notes?|See Also|Attributes|Keyword Arguments|Throws)\s*(?::|$))")


def first_paragraph_length(body, newline, dec):
    """How many tokens of an answer `body` (without its EOS) make its first paragraph: up to
    the first blank line (two newline tokens in a row; '\\n' is a byte-fallback token that no
    merge touches), or up to the newline before a line (after the first) that SECTION_LINE
    matches. The models loop on Explain mostly after a right first sentence, going on into
    such sections; an answer that stops there teaches them to end."""
    nls = np.flatnonzero(body == newline)
    blank = nls[:-1][np.diff(nls) == 1]
    cut = int(blank[0]) if len(blank) else len(body)
    for k, q in enumerate(nls):
        if q >= cut:
            break
        end = nls[k + 1] if k + 1 < len(nls) else len(body)
        if SECTION_LINE.match(dec.text(body[q + 1:end])):
            return int(q)
    return cut


class Instructions:
    """Instruction pairs of one split (SPLIT_inst.bin / SPLIT_inst_index.bin; rows: token
    offset, prompt length, answer length with its EOS, kind 0 explain / 1 write).

    explain_answer: "whole" (the pairs as stored) or "first-paragraph" (explain answers
    cut by first_paragraph_length, then EOS; write pairs unchanged)."""

    def __init__(self, root, name, explain_answer="whole"):
        self.tokens = np.fromfile(os.path.join(root, f"{name}_inst.bin"), dtype=np.uint16)
        self.index = np.fromfile(os.path.join(root, f"{name}_inst_index.bin"), dtype=np.uint32).reshape(-1, 4).astype(np.int64)
        self.n = len(self.index)
        self.eos = load_meta(root)[1]["eos"]
        self.keep = self.index[:, 2] - 1  # answer tokens kept before the EOS
        if explain_answer == "first-paragraph":
            dec, newline = Decoder(root), load_meta(root)[1]["newline"]
            for i in np.flatnonzero(self.index[:, 3] == 0):
                off, np_, na, _ = self.index[i]
                body = self.tokens[off + np_:off + np_ + na - 1]
                self.keep[i] = first_paragraph_length(body, newline, dec)
        elif explain_answer != "whole":
            raise ValueError(f"explain_answer: {explain_answer!r} is neither 'whole' nor 'first-paragraph'")

    def stored_length(self, i):
        return int(self.index[i, 1] + self.index[i, 2])

    def pair(self, i):
        off, np_, na, _ = self.index[i]
        if self.keep[i] == na - 1:  # as stored (its last token is the EOS)
            return self.tokens[off:off + np_ + na].astype(np.int64)
        return np.concatenate([self.tokens[off:off + np_ + self.keep[i]].astype(np.int64), [self.eos]])


def answer_targets(rows, ids):
    """For rows of instruction pairs (B, T+1), which of the T next-token targets are an
    answer's tokens or its EOS: the targets read from [/INST] up to the last answer token.
    A target is one when the latest [/INST] at or before its input comes after the latest
    BOS, [INST] or EOS."""
    x = rows[:, :-1]
    at = np.arange(x.shape[1])[None]
    last_end = np.maximum.accumulate(np.where(x == ids["inst_end"], at, -1), axis=1)
    starts = (x == ids["bos"]) | (x == ids["inst"]) | (x == ids["eos"])
    last_start = np.maximum.accumulate(np.where(starts, at, -1), axis=1)
    return last_end > last_start


class FileView:
    """Line structure of one file's token stream."""

    def __init__(self, split, i, newline):
        self.s = split.stream(i).astype(np.int64)
        self.line0, self.recs = split.aux_of(i)
        nl = np.flatnonzero(self.s == newline)
        self.nl = nl                                     # token index of each '\n'
        self.starts = np.concatenate([[0], nl + 1])      # token index where each line starts
        self.nlines = len(self.starts)

    def line_end(self, L):
        """Index of line L's '\\n' token (or the end of the stream)."""
        return int(self.nl[L]) if L < len(self.nl) else len(self.s)

    def span(self, a_line, b_tok):
        """Tokens from the start of line a_line up to token index b_tok, without the
        dummy prefix on line 0 (FIM segments are encoded without it)."""
        if a_line > 0:
            return self.s[self.starts[a_line]:b_tok]
        e0 = self.line_end(0)
        if b_tok <= e0:  # inside line 0: only whole-line-0 spans are used
            return self.line0.astype(np.int64) if b_tok == e0 else self.s[0:0]
        return np.concatenate([self.line0.astype(np.int64), self.s[e0:b_tok]])

    def prefix_start_line(self, L, budget):
        """Earliest line start so that the tokens from it up to line L fit the budget."""
        end = self.starts[L]
        lo = np.searchsorted(self.starts[:L + 1], end - budget, side="left")
        return int(min(lo, L))


def fim_example(fv, rng, ids, max_len, char_prob=0.5):
    """One FIM example from a file, or None. Returns an int64 array."""
    BOS, EOS, PRE, SUF, NL = ids["bos"], ids["eos"], ids["prefix"], ids["suffix"], ids["newline"]
    if fv.recs and rng.random() < char_prob:
        L, A, B, C = fv.recs[rng.integers(len(fv.recs))]
        A, B, C = (x.astype(np.int64) for x in (A, B, C))
        Lend = L
        middle = B
        if len(C) == 0 and rng.random() < 0.3 and L + 1 < fv.nlines:
            k = int(rng.integers(1, 4))
            Lend = min(L + k, fv.nlines - 1)
            middle = np.concatenate([B, fv.s[fv.line_end(L):fv.line_end(Lend)]])
        suffix_all = np.concatenate([C, fv.s[fv.line_end(Lend):]])
        prefix_tail = A
    else:
        L = int(rng.integers(fv.nlines))
        if fv.nlines > 1 and L == fv.nlines - 1 and fv.line_end(L) == fv.starts[L]:
            L -= 1  # the empty tail after the final newline
        k = 0 if rng.random() < 0.05 else min(1 + int(rng.geometric(0.5)) - 1, 4)
        Lend = min(L + max(k, 1) - 1, fv.nlines - 1)
        if k == 0:
            middle = fv.s[0:0]
            suffix_all = fv.span(L, fv.line_end(fv.nlines - 1)) if L == 0 else fv.s[fv.starts[L]:]
        else:
            middle = fv.span(L, fv.line_end(Lend))
            suffix_all = fv.s[fv.line_end(Lend):]
        prefix_tail = fv.s[0:0]
    if len(middle) > 192:
        return None
    # Budgets: mostly short windows, so that the suffix stays within the sliding window of
    # the middle (the recommended prompt shape for this model), sometimes the full context.
    s_budget = int(rng.integers(8, 160)) if rng.random() < 0.7 else int(rng.integers(16, 320))
    suffix = suffix_all[:s_budget]
    p_budget = max_len - 4 - len(middle) - len(suffix) - len(prefix_tail)
    if p_budget < 0:
        return None
    u = rng.random()
    if u < 0.6:
        p_budget = min(p_budget, int(rng.integers(0, 256)))
    elif u < 0.8:
        p_budget = int(rng.integers(0, p_budget + 1))
    p0 = fv.prefix_start_line(L, p_budget)
    prefix = np.concatenate([fv.span(p0, fv.starts[L]) if L > 0 else fv.s[0:0], prefix_tail])
    return np.concatenate([[BOS, SUF], suffix, [PRE], prefix, middle, [EOS]]).astype(np.int64)


class SpaceSplit:
    """Re-spells a fraction of "▁word" tokens as "▁" + "word" (table from
    space_split_table.cjs): an editor prompt whose cursor follows a space ends in a lone
    "▁", which the canonical encoding of whole files otherwise only shows before digits."""

    def __init__(self, root, vocab_size=32768):
        with open(os.path.join(root, "space_split.json")) as f:
            d = json.load(f)
        self.space = d["space"]
        self.has = np.zeros(vocab_size, dtype=bool)
        self.rest = {}
        for k, v in d["table"].items():
            self.has[int(k)] = True
            self.rest[int(k)] = np.array(v, dtype=np.int64)

    def apply(self, row, rng, rate):
        cand = np.flatnonzero(self.has[row])
        pick = cand[rng.random(len(cand)) < rate]
        if not len(pick):
            return row
        parts, prev = [], 0
        for q in pick:
            parts += [row[prev:q], [self.space], self.rest[int(row[q])]]
            prev = q + 1
        parts.append(row[prev:])
        return np.concatenate(parts)


class Batches:
    """Deterministic batches: batch `step` depends only on (seed, step)."""

    def __init__(self, split, ids, batch, ctx, seed, fim_rate=0.5, space_split=None, split_rate=0.0, inst=None, inst_rate=0.0):
        self.split, self.ids, self.batch, self.ctx, self.seed, self.fim_rate = split, ids, batch, ctx, seed, fim_rate
        self.inst, self.inst_rate = inst, inst_rate if inst is not None and inst.n else 0.0
        self.space_split, self.split_rate = space_split, split_rate
        BOS, EOS = ids["bos"], ids["eos"]
        # LM stream: BOS file EOS BOS file EOS ...
        n = split.n
        total = len(split.tokens) + 2 * n
        lm = np.empty(total, dtype=np.uint16)
        pos = 0
        self.doc_start = np.empty(n, dtype=np.int64)
        for i in range(n):
            s = split.stream(i)
            self.doc_start[i] = pos
            lm[pos] = BOS
            lm[pos + 1:pos + 1 + len(s)] = s
            lm[pos + 1 + len(s)] = EOS
            pos += len(s) + 2
        self.lm = lm
        w = np.minimum(split.rows[:, 1], 1024).astype(np.float64)
        self.file_p = w / w.sum()
        self._views = {}

    def view(self, i):
        v = self._views.get(i)
        if v is None:
            if len(self._views) > 20000:
                self._views.clear()
            v = self._views[i] = FileView(self.split, i, self.ids["newline"])
        return v

    def fim_row(self, rng):
        T1 = self.ctx + 1
        parts, n = [], 0
        while n < T1:
            f = int(rng.choice(self.split.n, p=self.file_p))
            ex = fim_example(self.view(f), rng, self.ids, self.ctx)
            if ex is None:
                continue
            parts.append(ex[:T1 - n])
            n += len(parts[-1])
        return np.concatenate(parts)

    def inst_row(self, rng):
        T1 = self.ctx + 1
        # As many draws as pairs of stored length fill the row, whatever explain_answer is, so
        # that the batch's other rows (LM, FIM) are the same with cut answers; the room these
        # leave is filled from a generator seeded by the draws.
        picks, n = [], 0
        while n < T1:
            picks.append(int(rng.integers(self.inst.n)))
            n += self.inst.stored_length(picks[-1])
        more = np.random.default_rng(picks)
        parts, n = [], 0
        while n < T1:
            i = picks.pop(0) if picks else int(more.integers(self.inst.n))
            parts.append(self.inst.pair(i)[:T1 - n])
            n += len(parts[-1])
        return np.concatenate(parts)

    def lm_row(self, rng):
        T1 = self.ctx + 1
        start = int(rng.integers(0, len(self.lm) - T1))
        return self.lm[start:start + T1].astype(np.int64)

    def get(self, step):
        rng = np.random.default_rng([self.seed, step])
        rows = np.empty((self.batch, self.ctx + 1), dtype=np.int64)
        # Row kinds: 0 next-token, 1 FIM, 2 instruction pairs.
        kinds = (rng.random(self.batch) < self.fim_rate).astype(np.int8)
        if self.inst_rate > 0:
            kinds[rng.random(self.batch) < self.inst_rate] = 2
        for r in range(self.batch):
            row = (self.lm_row, self.fim_row, self.inst_row)[kinds[r]](rng)
            if self.space_split is not None and self.split_rate > 0 and kinds[r] != 2:
                row = self.space_split.apply(row, rng, self.split_rate)[:self.ctx + 1]
            rows[r] = row
        return rows, kinds


def load_meta(root):
    with open(os.path.join(root, "meta.json")) as f:
        meta = json.load(f)
    ids = {k: meta[k] for k in ("bos", "eos", "prefix", "middle", "suffix", "newline", "inst", "inst_end") if k in meta}
    return meta, ids


class Decoder:
    """Token ids -> text, for SentencePiece pieces with byte fallback."""

    def __init__(self, root):
        with open(os.path.join(root, "vocab.json")) as f:
            self.vocab = json.load(f)

    def is_byte(self, t):
        p = self.vocab[int(t)]
        return len(p) == 6 and p.startswith("<0x") and p.endswith(">")

    def is_control(self, t):
        return int(t) < 771 and not self.is_byte(t)

    def bytes_of(self, ids):
        out = bytearray()
        for t in ids:
            p = self.vocab[int(t)]
            if self.is_byte(t):
                out.append(int(p[3:5], 16))
            elif self.is_control(t):
                out += f"<{p}>".encode()
            else:
                out += p.replace("\u2581", " ").encode("utf-8")
        return bytes(out)

    def text(self, ids):
        return self.bytes_of(ids).decode("utf-8", errors="replace")


class Healing:
    """Token healing as the Tramontane server does it (native/engine/heal.h): a prompt's
    last token is taken off unless it is a control token (or the prompt's only token); the
    first generated token must be one whose bytes begin with that token's bytes, never a
    control token; the output leaves those bytes out, so it starts at the cursor again.
    Bytes as Decoder gives them: a byte-fallback token "<0xNN>" is one byte, '▁' a space.
    A model trained on whole files has seldom seen the cursor's split, e.g. a lone '"'
    where the finished line reads '");' as one token; healing lets it pick '");'."""

    def __init__(self, dec):
        self.dec = dec
        self.control = np.array([dec.is_control(t) for t in range(len(dec.vocab))])
        self.pieces = [b"" if c else dec.bytes_of([t]) for t, c in enumerate(self.control)]
        self._allowed = {}

    def heal(self, prompts):
        """(prompts, healed): each prompt without its last token and healed[i] that token's
        bytes, or the prompt as it is and None."""
        out, healed = [], []
        for p in prompts:
            h = len(p) > 1 and not self.control[p[-1]]
            out.append(list(p[:-1]) if h else list(p))
            healed.append(self.pieces[p[-1]] if h else None)
        return out, healed

    def allowed(self, healed):
        """bool [vocab]: the tokens a completion healed of `healed` (bytes) may begin with."""
        m = self._allowed.get(healed)
        if m is None:
            m = self._allowed[healed] = np.array([len(p) > 0 and p.startswith(healed) for p in self.pieces])
        return m

    def strip(self, ids, healed):
        """The completion's text without the healed bytes (compared and cut as bytes: a
        healed byte-fallback token may be part of a character)."""
        b = self.dec.bytes_of(ids)
        assert b.startswith(healed), (b, healed)
        return b[len(healed):].decode("utf-8", errors="replace")
