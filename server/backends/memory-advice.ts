// What to do when the GPU is full. The engine's message carries the numbers ("not enough
// GPU memory for the model's weights: need 13824 MiB, 7900 MiB free of 8192 MiB"); this
// adds the ways out on the same line, so the status bar and the log say it all at once.
// The weights can only shrink by quantization or move to the CPU. A session's KV cache
// holds the window plus the slack with a sliding window (the context does not size it
// then), else the context.

const GPU_MEMORY = /(not enough|out of) GPU memory/;

/** `windowed`: the model has a sliding window (its cache is window + slack slots). */
export function withMemoryAdvice(message: string, windowed = false): string {
  if (!GPU_MEMORY.test(message)) return message;
  if (/weights/.test(message)) return `${message}; use a quantized model file, or the CPU (--backend cpu, setting tramontane.model.backend)`;
  const smaller = windowed ? 'a smaller slack (serve --slack N)' : 'a smaller context (serve --context N, setting tramontane.model.context)';
  return `${message}; use ${smaller}, fewer warm documents (--completion-sessions), or the CPU (--backend cpu)`;
}

/** `error` with the advice added to its message, when it is a GPU memory error. */
export function adviseMemory(error: unknown, windowed = false): unknown {
  if (!(error instanceof Error)) return error;
  const advised = withMemoryAdvice(error.message, windowed);
  return advised === error.message ? error : new Error(advised);
}
