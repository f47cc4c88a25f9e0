// Bundles the TypeScript entry points with esbuild (the native addon is built by cmake-js):
// the CLI (which is also the language server), the VS Code extension, and the chat
// webview's script, which runs in a browser context.
import { build } from 'esbuild';

const common = { bundle: true, sourcemap: true, logLevel: 'warning' };

await Promise.all([
  build({
    ...common,
    entryPoints: { cli: 'server/cli/main.ts' },
    outdir: 'dist',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
  }),
  build({
    ...common,
    entryPoints: { extension: 'extension/extension.ts' },
    outdir: 'dist',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Provided by the editor at run time.
    external: ['vscode'],
  }),
  build({
    ...common,
    entryPoints: { webview: 'extension/webview/main.ts' },
    outdir: 'dist',
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
  }),
]);
