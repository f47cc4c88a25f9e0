// Settings from the client, checked field by field: a bad value is one clear error,
// never a silently odd prompt.
import type { FimTemplateName, Settings } from '../protocol';

const TEMPLATES: FimTemplateName[] = ['auto', 'prefix-only', 'mistral', 'codellama', 'starcoder'];

type Check = (value: unknown) => boolean;
const integerIn = (min: number, max: number): Check => (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const numberIn = (min: number, max: number): Check => (v) => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;

const CHECKS: Record<keyof Settings, [Check, string]> = {
  fimTemplate: [(v) => TEMPLATES.includes(v as FimTemplateName), `one of ${TEMPLATES.join(', ')}`],
  contextTokens: [integerIn(64, 1 << 20), 'an integer from 64'],
  suffixShare: [numberIn(0, 0.9), 'a number from 0 to 0.9'],
  extraShare: [numberIn(0, 0.9), 'a number from 0 to 0.9'],
  maxTokens: [integerIn(1, 4096), 'an integer from 1 to 4096'],
  maxLines: [integerIn(1, 1000), 'an integer from 1 to 1000'],
  temperature: [numberIn(0, 5), 'a number from 0 to 5'],
  chatMaxTokens: [integerIn(1, 1 << 16), 'an integer from 1'],
  chatTemperature: [numberIn(0, 5), 'a number from 0 to 5'],
  enabledLanguages: [
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((e) => typeof e === 'boolean'),
    'an object of language ids to true or false',
  ],
  contextExclude: [(v) => Array.isArray(v) && v.every((e) => typeof e === 'string'), 'a list of glob patterns'],
};

export function mergeSettings(current: Settings, update: Partial<Settings> | undefined): Settings {
  if (!update) return current;
  const next = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (value === undefined || value === null) continue;
    const check = CHECKS[key as keyof Settings];
    if (!check) continue; // settings of newer clients
    if (!check[0](value)) throw new Error(`setting ${key} must be ${check[1]}, not ${JSON.stringify(value)}`);
    (next as Record<string, unknown>)[key] = value;
  }
  return next;
}
