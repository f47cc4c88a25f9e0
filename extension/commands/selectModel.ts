// "Tramontane: Select Model": the embedded demo model, a folder of weights, or a remote
// OpenAI-compatible server; and which backend runs the local engine.
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { KEYS, type ExtensionSettings } from '../settings';

const RECENT_KEY = 'tramontane.recentModels';

/** Why a folder or file cannot be a model, or undefined when it looks like one. */
export function modelFolderProblem(dir: string): string | undefined {
  if (!fs.existsSync(dir)) return `${dir} does not exist.`;
  if (!fs.statSync(dir).isDirectory()) {
    return dir.toLowerCase().endsWith('.gguf') ? undefined : `${dir} is neither a folder nor a .gguf file.`;
  }
  const has = (name: string) => fs.existsSync(path.join(dir, name));
  if (!has('config.json') && !has('params.json') && !fs.readdirSync(dir).some((name) => name.toLowerCase().endsWith('.gguf'))) {
    return `${dir} has neither config.json (Hugging Face layout), params.json (Mistral's layout) nor a .gguf file.`;
  }
  return undefined;
}

type Pick = vscode.QuickPickItem & { run?: () => Promise<void> };

export async function selectModel(context: vscode.ExtensionContext, settings: ExtensionSettings): Promise<void> {
  const config = vscode.workspace.getConfiguration('tramontane');
  const target = vscode.ConfigurationTarget.Global;
  const useFolder = async (dir: string) => {
    const problem = modelFolderProblem(dir);
    if (problem) {
      void vscode.window.showErrorMessage(`Tramontane: ${problem} Choose the folder that holds the model's weights and tokenizer.`);
      return;
    }
    const recent = [dir, ...(context.globalState.get<string[]>(RECENT_KEY) ?? []).filter((d) => d !== dir)].slice(0, 5);
    await context.globalState.update(RECENT_KEY, recent);
    if (settings.backend === 'remote') await config.update(KEYS.backend, 'cpu', target);
    await config.update(KEYS.modelPath, dir, target);
  };

  const current = (label: boolean) => (label ? ' (current)' : '');
  const local = settings.backend !== 'remote';
  const items: Pick[] = [
    {
      label: `$(package) Embedded demo model${current(local && !settings.modelPath)}`,
      detail: 'A small code model shipped with the extension: good for trying Tramontane, not for real work.',
      run: async () => {
        if (!local) await config.update(KEYS.backend, 'cpu', target);
        await config.update(KEYS.modelPath, '', target);
      },
    },
    {
      label: '$(folder-opened) Choose a model folder…',
      detail: 'Hugging Face (config.json + safetensors + tokenizer) or Mistral (params.json + consolidated.safetensors)',
      run: async () => {
        const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this model' });
        if (picked?.[0]) await useFolder(picked[0].fsPath);
      },
    },
    {
      label: '$(file-binary) Choose a GGUF file…',
      detail: "llama.cpp's format: F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0 and the like (runs on the CPU)",
      run: async () => {
        const picked = await vscode.window.showOpenDialog({
          canSelectFolders: false,
          canSelectFiles: true,
          filters: { 'GGUF models': ['gguf'] },
          openLabel: 'Use this model',
        });
        if (picked?.[0]) await useFolder(picked[0].fsPath);
      },
    },
  ];
  for (const dir of context.globalState.get<string[]>(RECENT_KEY) ?? []) {
    items.push({
      label: `$(history) ${path.basename(dir)}${current(local && settings.modelPath === dir)}`,
      description: dir,
      run: () => useFolder(dir),
    });
  }
  items.push(
    { label: 'Where it runs', kind: vscode.QuickPickItemKind.Separator },
    {
      label: `$(chip) On the GPU (CUDA)${current(settings.backend === 'cuda')}`,
      detail: 'Needs a build of the engine with the CUDA backend.',
      run: () => Promise.resolve(config.update(KEYS.backend, 'cuda', target)),
    },
    {
      label: `$(server-process) On the CPU${current(settings.backend === 'cpu')}`,
      run: () => Promise.resolve(config.update(KEYS.backend, 'cpu', target)),
    },
    {
      label: `$(cloud) On a remote server…${current(!local)}`,
      detail: 'Any OpenAI-compatible server: vLLM, TGI, llama.cpp, or `tramontane serve --http` on another machine.',
      run: async () => {
        const url = await vscode.window.showInputBox({
          title: 'Remote server',
          prompt: 'Base URL of an OpenAI-compatible API',
          value: settings.remoteUrl || 'http://127.0.0.1:8080/v1',
          validateInput: (value) => (/^https?:\/\/\S+$/i.test(value.trim()) ? undefined : 'An http:// or https:// URL'),
        });
        if (!url) return;
        await config.update(KEYS.remoteUrl, url.trim(), target);
        await config.update(KEYS.backend, 'remote', target);
      },
    },
  );
  const choice = await vscode.window.showQuickPick(items, { title: 'Tramontane: Select Model', matchOnDescription: true });
  await choice?.run?.();
}
