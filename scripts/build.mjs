// Bundles the TypeScript entry points with esbuild (the native addon is built by cmake-js).
import { build } from 'esbuild';

await build({
  entryPoints: { cli: 'server/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
});
