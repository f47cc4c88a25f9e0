// Writes small Mistral-architecture models with seeded random weights, in the HF
// layout (config.json + model.safetensors), for tests that need a real model on disk.
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
    shapes[p + 'mlp.gate_proj.weight'] = [c.hidden, c.dim];
    shapes[p + 'mlp.up_proj.weight'] = [c.hidden, c.dim];
    shapes[p + 'mlp.down_proj.weight'] = [c.dim, c.hidden];
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
  return {
    architectures: ['MistralForCausalLM'],
    model_type: 'mistral',
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

/** Creates a model folder under the OS temp dir and returns its path. */
export function writeTinyModel(c: TinyConfig = SMALL, seed = 1, extra: { tokenizerFrom?: string } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tramontane-model-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(hfConfig(c), null, 2));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(randomTensors(c, seed)));
  if (extra.tokenizerFrom) {
    fs.copyFileSync(extra.tokenizerFrom, path.join(dir, path.basename(extra.tokenizerFrom)));
  }
  return dir;
}
