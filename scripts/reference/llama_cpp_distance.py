#!/usr/bin/env python3
"""How far llama.cpp's own CPU logits sit from the exact references of a Q8_0 GGUF model.

llama.cpp, like the engine's default path, quantizes activations to 8 bits before its
Q8_0 dot products, so its logits differ from the float64 forward on the same weights
(scripts/reference/q8_forward.py). That distance, measured on the very file that ships,
is the peer's figure for the engine's band in test/default-model.test.ts.

For each reference JSON (test/fixtures/default-model-reference), runs llama.cpp's
`llama_logits` (../shared/anchors: `build-llama.sh cpu DIR`, then DIR/bin/llama_logits) on
its tokens and prints the largest |llama.cpp - reference| as a fraction of the rms of
transformers' logits, against the float64 Q8_0 forward (`*_q8_logits.f32`) and against
transformers on the bf16 weights. llama.cpp reads the file as the `llama` architecture,
which has no sliding window, so a prompt longer than the window is skipped.

    python3 scripts/reference/llama_cpp_distance.py DIR/bin/llama_logits \\
        models/default/model.gguf test/fixtures/default-model-reference/reference*.json
"""

import json
import os
import subprocess
import sys

import numpy as np

WINDOW = 256  # models/default's sliding window


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    llama_logits, model = argv[0], argv[1]
    worst = 0.0
    for name in argv[2:]:
        ref = json.load(open(name))
        tokens, positions = ref["tokens"], ref["logits_positions"]
        if len(tokens) > WINDOW:
            print(f"{os.path.basename(name)}: {len(tokens)} tokens, longer than the window: skipped")
            continue
        run = subprocess.run([llama_logits, model, ",".join(map(str, tokens))], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{llama_logits}: " + (run.stderr.strip().splitlines() or ["failed"])[-1])
        peer = np.array(json.loads(run.stdout)["logits"], dtype=np.float64)[positions]
        here = os.path.dirname(name)
        hf = np.fromfile(os.path.join(here, ref["logits_file"]), dtype="<f4").reshape(peer.shape).astype(np.float64)
        q8 = np.fromfile(name[: -len(".json")] + "_q8_logits.f32", dtype="<f4").reshape(peer.shape)
        rms = float(np.sqrt((hf * hf).mean()))
        to_q8, to_hf = np.abs(peer - q8).max() / rms, np.abs(peer - hf).max() / rms
        worst = max(worst, to_q8)
        same = int((peer.argmax(-1) == hf.argmax(-1)).sum())
        print(f"{os.path.basename(name)}: llama.cpp vs the float64 Q8_0 forward {to_q8:.4f} of the rms, "
              f"vs transformers (bf16 weights) {to_hf:.4f}; argmax {same}/{len(positions)}", flush=True)
    print(f"largest distance from the float64 Q8_0 forward: {worst:.4f} of the rms")


if __name__ == "__main__":
    main(sys.argv[1:])
