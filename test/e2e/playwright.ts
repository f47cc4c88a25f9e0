// playwright-core, loaded from the e2e tools folder (test/e2e/install.sh) rather than the
// project's node_modules, with the little of its API the end-to-end test uses.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

export interface Locator {
  click(options?: { timeout?: number; button?: 'left' | 'right'; force?: boolean }): Promise<void>;
  fill(value: string, options?: { timeout?: number }): Promise<void>;
  press(key: string, options?: { timeout?: number }): Promise<void>;
  check(options?: { timeout?: number }): Promise<void>;
  uncheck(options?: { timeout?: number }): Promise<void>;
  waitFor(options?: { state?: 'attached' | 'detached' | 'visible' | 'hidden'; timeout?: number }): Promise<void>;
  textContent(options?: { timeout?: number }): Promise<string | null>;
  innerText(options?: { timeout?: number }): Promise<string>;
  getAttribute(name: string, options?: { timeout?: number }): Promise<string | null>;
  isVisible(): Promise<boolean>;
  count(): Promise<number>;
  first(): Locator;
  last(): Locator;
  nth(index: number): Locator;
  locator(selector: string): Locator;
  filter(options: { hasText?: string | RegExp }): Locator;
  evaluateAll<R>(fn: (elements: Element[]) => R): Promise<R>;
}

export interface FrameLocator {
  locator(selector: string): Locator;
  frameLocator(selector: string): FrameLocator;
}

export interface Keyboard {
  type(text: string, options?: { delay?: number }): Promise<void>;
  press(key: string, options?: { delay?: number }): Promise<void>;
  insertText(text: string): Promise<void>;
}

export interface Page {
  goto(url: string, options?: { timeout?: number; waitUntil?: 'load' | 'domcontentloaded' | 'networkidle' }): Promise<unknown>;
  locator(selector: string): Locator;
  frameLocator(selector: string): FrameLocator;
  keyboard: Keyboard;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<Buffer>;
  waitForTimeout(ms: number): Promise<void>;
  waitForFunction<R>(fn: () => R, arg?: unknown, options?: { timeout?: number; polling?: number }): Promise<unknown>;
  evaluate<R>(fn: (() => R) | string): Promise<R>;
  on(event: 'console', listener: (message: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', listener: (error: Error) => void): void;
  close(): Promise<void>;
}

export interface BrowserContext {
  newPage(): Promise<Page>;
  pages(): Page[];
  grantPermissions(permissions: string[], options?: { origin?: string }): Promise<void>;
  close(): Promise<void>;
}

export interface Chromium {
  /** A browser on a profile folder of its own (a fresh one, for a test). */
  launchPersistentContext(
    userDataDir: string,
    options: {
      executablePath: string;
      headless?: boolean;
      args?: string[];
      timeout?: number;
      viewport?: { width: number; height: number };
    },
  ): Promise<BrowserContext>;
}

export function toolsHome(): string {
  return process.env.TRAMONTANE_E2E_HOME ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'tramontane-e2e');
}

export function loadChromium(): Chromium {
  const require = createRequire(path.join(toolsHome(), 'package.json'));
  try {
    return (require('playwright-core') as { chromium: Chromium }).chromium;
  } catch {
    throw new Error(`playwright-core is not installed in ${toolsHome()}: run test/e2e/install.sh first`);
  }
}
