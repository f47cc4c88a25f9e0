// What the status bar says, as plain data: computed from the server's state, the gate
// and the last completion's figures. Kept apart from VS Code's API so it can be tested.
import type { CompletionStats } from '../../server/protocol';
import type { GateState } from '../completion/gate';
import type { SidecarState } from '../sidecar/sidecar';

export interface LastCompletion {
  timeToFirstTokenMs: number;
  tokensPerSecond?: number;
  reusedTokens?: number;
  computedTokens?: number;
}

export interface StatusView {
  text: string;
  tooltip: string;
  severity: 'normal' | 'warning' | 'error';
}

/** The newest completion the engine actually ran (not cached, cancelled or superseded). */
export function lastCompletion(completions: readonly CompletionStats[]): LastCompletion | undefined {
  const ran = completions
    .filter((c) => (c.outcome === 'complete' || c.outcome === 'length') && c.timeToFirstTokenMs !== undefined)
    .sort((a, b) => b.id - a.id)[0];
  if (!ran || ran.timeToFirstTokenMs === undefined) return undefined;
  const decodeMs = ran.totalMs - ran.timeToFirstTokenMs;
  // The first token comes with the prefill; the rate is over the tokens after it.
  const tokensPerSecond = ran.generatedTokens > 1 && decodeMs > 0 ? ((ran.generatedTokens - 1) * 1000) / decodeMs : undefined;
  return {
    timeToFirstTokenMs: ran.timeToFirstTokenMs,
    tokensPerSecond,
    reusedTokens: ran.reusedTokens,
    computedTokens: ran.computedTokens,
  };
}

export function modelName(model: string, embedded: boolean): string {
  if (embedded) return 'demo model';
  // A remote server is known by its address.
  if (/^https?:\/\//i.test(model)) {
    try {
      return new URL(model).host;
    } catch {
      return model;
    }
  }
  const trimmed = model.replace(/[\\/]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1) || model;
}

export interface StatusInput {
  sidecar: SidecarState;
  gate: GateState;
  /** No model path configured: the embedded demo model. */
  embedded: boolean;
  generating: boolean;
  last?: LastCompletion;
  now: number;
}

function figures(last: LastCompletion | undefined): string {
  if (!last) return '';
  const ttft = `${Math.round(last.timeToFirstTokenMs)} ms`;
  return last.tokensPerSecond === undefined ? ` · ${ttft}` : ` · ${ttft} · ${Math.round(last.tokensPerSecond)} tok/s`;
}

export function statusView(input: StatusInput): StatusView {
  const { sidecar, gate } = input;
  switch (sidecar.kind) {
    case 'stopped':
      return { text: '$(circle-slash) Tramontane', tooltip: 'Tramontane: the server is stopped', severity: 'warning' };
    case 'starting':
      return { text: '$(loading~spin) Tramontane', tooltip: 'Tramontane: starting the server', severity: 'normal' };
    case 'restarting':
      return {
        text: '$(sync~spin) Tramontane: restarting',
        tooltip: `Tramontane: the server stopped unexpectedly; restart ${sidecar.attempt}`,
        severity: 'warning',
      };
    case 'loading': {
      const pct = sidecar.progress === undefined ? '' : ` ${Math.round(sidecar.progress * 100)}%`;
      return { text: `$(loading~spin) Tramontane: loading${pct}`, tooltip: 'Tramontane: loading the model', severity: 'normal' };
    }
    case 'error':
      return { text: '$(error) Tramontane', tooltip: `Tramontane: ${sidecar.message}`, severity: 'error' };
    case 'ready':
      break;
  }
  const status = sidecar.status;
  const backend = status.backend === 'cuda' ? 'CUDA' : status.backend === 'cpu' ? 'CPU' : status.backend === 'auto' ? 'auto' : 'remote';
  const host = modelName(status.model, input.embedded && status.backend !== 'remote');
  // A remote server is known by the model it runs there, once it has said.
  const name = status.remoteModel ? `${status.remoteModel.replace(/^.*\//, '')} @ ${host}` : host;
  const where = `${backend} · ${name}`;
  const detail = [
    `Tramontane: ${where} (${status.model})`,
    status.template ? `prompt template: ${status.template}` : '',
    status.notice ? `note: ${status.notice}` : '',
    input.last
      ? `last completion: first token after ${Math.round(input.last.timeToFirstTokenMs)} ms` +
        (input.last.tokensPerSecond === undefined ? '' : `, ${input.last.tokensPerSecond.toFixed(1)} tok/s`) +
        (input.last.computedTokens === undefined ? '' : `, ${input.last.computedTokens} prompt tokens computed, ${input.last.reusedTokens ?? 0} reused`)
      : '',
  ];
  if (gate.kind === 'off') {
    return { text: `$(circle-slash) ${where}`, tooltip: [...detail, 'inline completions are off'].filter(Boolean).join('\n'), severity: 'normal' };
  }
  if (gate.kind === 'snoozed') {
    const minutes = Math.max(1, Math.ceil((gate.until - input.now) / 60_000));
    return {
      text: `$(clock) ${where} · snoozed ${minutes}m`,
      tooltip: [...detail, `inline completions snoozed for ${minutes} more minutes`].filter(Boolean).join('\n'),
      severity: 'normal',
    };
  }
  const icon = input.generating ? '$(loading~spin)' : '$(sparkle)';
  return { text: `${icon} ${where}${figures(input.last)}`, tooltip: detail.filter(Boolean).join('\n'), severity: 'normal' };
}
