// What workspace context buys, measured: held-out two-file tasks (a function defined in
// one file, called in another by a name the calling file never spells out) completed by
// a real `tramontane serve --stdio` on the embedded demo model (or MODEL), greedy. The user has
// typed the name's first word ("compute_"); exact match: the suggestion starts with the
// rest of the name and its "(".
//
//   node --import tsx scripts/context-exact-match.ts [MODEL]
//
// Three runs over the same tasks: no context; the defining file open in the editor
// (its text lends context as another open document); the function's definition sent as
// the extension sends it (tramontane/contextChunks, from VS Code's definition provider).
import { ContextChunksNotification } from '../server/protocol';
import { LspClient, itemsOf } from '../test/helpers/lsp-client';

const NAMES: [string, string[]][] = [
  ['compute_invoice_total', ['line_items', 'tax_rate']],
  ['parse_sensor_reading', ['raw_frame']],
  ['normalize_postcode', ['postcode', 'country']],
  ['render_badge_label', ['user', 'style']],
  ['merge_calendar_slots', ['slots', 'gap_minutes']],
  ['estimate_shipping_days', ['parcel', 'destination']],
  ['clamp_brightness_level', ['level']],
  ['encode_ticket_token', ['ticket', 'secret']],
  ['count_vowel_groups', ['word']],
  ['rotate_matrix_clockwise', ['matrix']],
  ['summarize_latency_samples', ['samples', 'percentile']],
  ['validate_coupon_code', ['code', 'today']],
];

function helper(name: string, params: string[]): string {
  return `def ${name}(${params.join(', ')}):\n    """${name.replace(/_/g, ' ')}."""\n    result = ${params[0]}\n    return result\n`;
}

/** What the user has typed of the name: its first word and the underscore. */
function prefixOf(name: string): string {
  return name.slice(0, name.indexOf('_') + 1);
}

function caller(name: string): { text: string; line: number; character: number } {
  const typed = `    value = ${prefixOf(name)}`;
  const text = `from helpers import *\n\n\ndef handle(request):\n    data = request.payload\n${typed}`;
  return { text, line: 5, character: typed.length };
}

type Mode = 'none' | 'open file' | 'definition';

const model = process.argv[2];

async function run(mode: Mode): Promise<number> {
  const client = await LspClient.start(model ? ['--model', model] : [], { maxTokens: 16 });
  await client.ready();
  let hits = 0;
  for (const [i, [name, params]] of NAMES.entries()) {
    const helperUri = `file:///work/task${i}/helpers.py`;
    const mainUri = `file:///work/task${i}/main.py`;
    const definition = helper(name, params);
    if (mode === 'open file') client.open(helperUri, definition, 'python');
    if (mode === 'definition') {
      await client.connection.sendNotification(ContextChunksNotification, {
        chunks: [{ uri: helperUri, languageId: 'python', text: definition, kind: 'definition' }],
      });
    }
    const { text, line, character } = caller(name);
    client.open(mainUri, text, 'python');
    const items = itemsOf(await client.complete(mainUri, { line, character }));
    const suggestion = items[0]?.insertText.toString() ?? '';
    const expected = `${name.slice(prefixOf(name).length)}(`;
    const hit = suggestion.startsWith(expected);
    if (hit) hits++;
    console.error(`${mode.padEnd(10)} ${name.padEnd(26)} ${hit ? 'hit ' : 'miss'} ${JSON.stringify(suggestion.split('\n')[0])}`);
    client.close(mainUri);
    if (mode === 'open file') client.close(helperUri);
  }
  await client.stop();
  return hits;
}

(async () => {
  const results: Record<Mode, number> = { none: 0, 'open file': 0, definition: 0 };
  for (const mode of Object.keys(results) as Mode[]) results[mode] = await run(mode);
  console.log(`exact match over ${NAMES.length} tasks (${model ?? 'demo model'}, greedy):`);
  for (const [mode, hits] of Object.entries(results)) console.log(`  ${mode.padEnd(10)} ${hits}/${NAMES.length} (${((100 * hits) / NAMES.length).toFixed(0)}%)`);
})();
