// Writes small Mistral-architecture models (dense or a mixture of experts) with seeded
// random weights, in the HF layout (config.json + model.safetensors) or Mistral's own
// (params.json + consolidated.safetensors), for tests that need a real model on disk.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seededRandom } from '../../server/bench/seeded-random';

export interface TinyConfig {
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  hidden: number;
  window: number | null;
  ropeTheta?: number;
  eos?: number;
  /** A mixture of experts (Mixtral): experts per layer and experts per token. */
  experts?: number;
  expertsPerToken?: number;
}

export const SMALL: TinyConfig = { vocab: 320, dim: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, hidden: 128, window: 16 };

export function tensorShapes(c: TinyConfig): Record<string, number[]> {
  const shapes: Record<string, number[]> = {
    'model.embed_tokens.weight': [c.vocab, c.dim],
    'model.norm.weight': [c.dim],
    'lm_head.weight': [c.vocab, c.dim],
  };
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    shapes[p + 'input_layernorm.weight'] = [c.dim];
    shapes[p + 'post_attention_layernorm.weight'] = [c.dim];
    shapes[p + 'self_attn.q_proj.weight'] = [c.heads * c.headDim, c.dim];
    shapes[p + 'self_attn.k_proj.weight'] = [c.kvHeads * c.headDim, c.dim];
    shapes[p + 'self_attn.v_proj.weight'] = [c.kvHeads * c.headDim, c.dim];
    shapes[p + 'self_attn.o_proj.weight'] = [c.dim, c.heads * c.headDim];
    if (c.experts) {
      shapes[p + 'block_sparse_moe.gate.weight'] = [c.experts, c.dim];
      for (let e = 0; e < c.experts; e++) {
        shapes[p + `block_sparse_moe.experts.${e}.w1.weight`] = [c.hidden, c.dim];
        shapes[p + `block_sparse_moe.experts.${e}.w2.weight`] = [c.dim, c.hidden];
        shapes[p + `block_sparse_moe.experts.${e}.w3.weight`] = [c.hidden, c.dim];
      }
    } else {
      shapes[p + 'mlp.gate_proj.weight'] = [c.hidden, c.dim];
      shapes[p + 'mlp.up_proj.weight'] = [c.hidden, c.dim];
      shapes[p + 'mlp.down_proj.weight'] = [c.dim, c.hidden];
    }
  }
  return shapes;
}

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data: Buffer;
}

/** Serialises tensors in the safetensors format: u64 header length, JSON header, data. */
export function encodeSafetensors(tensors: Record<string, SafetensorsEntry>): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = Buffer.from(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...Object.values(tensors).map((t) => t.data)]);
}

export function randomTensors(c: TinyConfig, seed: number): Record<string, SafetensorsEntry> {
  const next = seededRandom(seed);
  const tensors: Record<string, SafetensorsEntry> = {};
  for (const [name, shape] of Object.entries(tensorShapes(c))) {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < count; i++) {
      values[i] = isNorm ? 1 + (next() - 0.5) * 0.2 : (next() - 0.5) * 0.4;
    }
    tensors[name] = { dtype: 'F32', shape, data: Buffer.from(values.buffer) };
  }
  return tensors;
}

export function hfConfig(c: TinyConfig): Record<string, unknown> {
  const experts = c.experts ? { num_local_experts: c.experts, num_experts_per_tok: c.expertsPerToken ?? 2 } : {};
  return {
    architectures: [c.experts ? 'MixtralForCausalLM' : 'MistralForCausalLM'],
    model_type: c.experts ? 'mixtral' : 'mistral',
    ...experts,
    vocab_size: c.vocab,
    hidden_size: c.dim,
    intermediate_size: c.hidden,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    sliding_window: c.window,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    rope_theta: c.ropeTheta ?? 10000,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: c.eos ?? 2,
    torch_dtype: 'float32',
  };
}

/** Mistral's params.json for the same model. */
export function mistralParams(c: TinyConfig): Record<string, unknown> {
  return {
    dim: c.dim,
    n_layers: c.layers,
    head_dim: c.headDim,
    hidden_dim: c.hidden,
    n_heads: c.heads,
    n_kv_heads: c.kvHeads,
    norm_eps: 1e-5,
    vocab_size: c.vocab,
    rope_theta: c.ropeTheta ?? 10000,
    ...(c.window ? { sliding_window: c.window } : {}),
    ...(c.experts ? { moe: { num_experts: c.experts, num_experts_per_tok: c.expertsPerToken ?? 2 } } : {}),
  };
}

/**
 * HF tensors under Mistral's names, q/k rows back in the interleaved pair order of the
 * original checkpoints: HF row (head, s·d/2 + i) is row (head, 2i + s) there.
 */
export function toConsolidated(c: TinyConfig, hf: Record<string, SafetensorsEntry>): Record<string, SafetensorsEntry> {
  const pairOrder = (t: SafetensorsEntry): SafetensorsEntry => {
    const [rows, cols] = t.shape;
    const half = c.headDim / 2;
    const out = Buffer.alloc(t.data.length);
    for (let row = 0; row < rows; row++) {
      const head = Math.floor(row / c.headDim);
      const within = row % c.headDim;
      const target = head * c.headDim + 2 * (within % half) + Math.floor(within / half);
      t.data.copy(out, target * cols * 4, row * cols * 4, (row + 1) * cols * 4);
    }
    return { ...t, data: out };
  };
  const names: [RegExp, string][] = [
    [/^model\.embed_tokens\./, 'tok_embeddings.'],
    [/^model\.norm\./, 'norm.'],
    [/^lm_head\./, 'output.'],
    [/^model\.layers\.(\d+)\.input_layernorm\./, 'layers.$1.attention_norm.'],
    [/^model\.layers\.(\d+)\.post_attention_layernorm\./, 'layers.$1.ffn_norm.'],
    [/^model\.layers\.(\d+)\.self_attn\.q_proj\./, 'layers.$1.attention.wq.'],
    [/^model\.layers\.(\d+)\.self_attn\.k_proj\./, 'layers.$1.attention.wk.'],
    [/^model\.layers\.(\d+)\.self_attn\.v_proj\./, 'layers.$1.attention.wv.'],
    [/^model\.layers\.(\d+)\.self_attn\.o_proj\./, 'layers.$1.attention.wo.'],
    [/^model\.layers\.(\d+)\.mlp\.gate_proj\./, 'layers.$1.feed_forward.w1.'],
    [/^model\.layers\.(\d+)\.mlp\.down_proj\./, 'layers.$1.feed_forward.w2.'],
    [/^model\.layers\.(\d+)\.mlp\.up_proj\./, 'layers.$1.feed_forward.w3.'],
    [/^model\.layers\.(\d+)\.block_sparse_moe\.gate\./, 'layers.$1.feed_forward.gate.'],
    [/^model\.layers\.(\d+)\.block_sparse_moe\.experts\./, 'layers.$1.feed_forward.experts.'],
  ];
  const out: Record<string, SafetensorsEntry> = {};
  for (const [name, t] of Object.entries(hf)) {
    const [pattern, replacement] = names.find(([p]) => p.test(name)) ?? [];
    if (!pattern) throw new Error(`no consolidated name for ${name}`);
    const renamed = name.replace(pattern, replacement!);
    out[renamed] = /self_attn\.[qk]_proj/.test(name) ? pairOrder(t) : t;
  }
  return out;
}

/**
 * Creates a model folder under the OS temp dir and returns its path: the HF layout, or
 * Mistral's (`layout: 'consolidated'`) holding the same weights.
 */
export function writeTinyModel(
  c: TinyConfig = SMALL,
  seed = 1,
  extra: { tokenizerFrom?: string; layout?: 'hf' | 'consolidated' } = {},
): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-model-'));
  if (extra.layout === 'consolidated') {
    fs.writeFileSync(path.join(dir, 'params.json'), JSON.stringify(mistralParams(c), null, 2));
    fs.writeFileSync(path.join(dir, 'consolidated.safetensors'), encodeSafetensors(toConsolidated(c, randomTensors(c, seed))));
  } else {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(hfConfig(c), null, 2));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(randomTensors(c, seed)));
  }
  if (extra.tokenizerFrom) {
    fs.copyFileSync(extra.tokenizerFrom, path.join(dir, path.basename(extra.tokenizerFrom)));
  }
  return dir;
}
