// Option parsing shared by the CLI commands: each bad value is one clear line.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { BackendChoice } from '../engine/engine';

export function parseBackend(value: string): BackendChoice {
  if (value !== 'auto' && value !== 'cpu' && value !== 'cuda') {
    throw new InvalidArgumentError('expected auto, cpu or cuda.');
  }
  return value;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError('expected a non-negative integer.');
  }
  return n;
}

export function parsePositive(value: string): number {
  const n = parseCount(value);
  if (n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
}

export function parseTokenList(value: string): number[] {
  const parts = value.split(',').map((part) => part.trim());
  if (parts.some((part) => !/^\d+$/.test(part))) {
    throw new InvalidArgumentError('expected comma-separated token ids, e.g. 1,2,3.');
  }
  return parts.map(Number);
}

/** The embedded demo model shipped with the package, used when --model is not given. */
export function defaultModelDir(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'models', 'default');
    if (fs.existsSync(path.join(candidate, 'model.gguf'))) return candidate; // a Q8_0 GGUF
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function resolveModelDir(model: string | undefined): string {
  if (model) return model;
  const fallback = defaultModelDir();
  if (!fallback) throw new Error('no model given: pass --model DIR (a folder with config.json or params.json) or a .gguf file');
  return fallback;
}

export interface EngineOptions {
  model?: string;
  backend: BackendChoice;
  threads?: number;
  slidingWindow?: number;
}
