// Driving VS Code's workbench in the browser the way a user does: the command palette,
// Quick Open, the editor, the status bar and the Tramontane chat webview.
import fs from 'node:fs';
import path from 'node:path';
import type { FrameLocator, Locator, Page } from './playwright';

export class Workbench {
  private shot = 0;

  constructor(
    readonly page: Page,
    private readonly artifacts: string,
  ) {}

  async screenshot(name: string): Promise<string> {
    fs.mkdirSync(this.artifacts, { recursive: true });
    const file = path.join(this.artifacts, `${String(++this.shot).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async waitForWorkbench(): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 120_000 });
    await this.page.locator('.statusbar').waitFor({ state: 'visible', timeout: 60_000 });
  }

  /** Runs a command by its palette title, e.g. "Tramontane: Explain Selection". */
  async runCommand(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`>${title}`);
    const row = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: title }).first();
    await row.waitFor({ state: 'visible', timeout: 10_000 });
    await input.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
  }

  async openFile(name: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    // Enter goes to the list's focused row: wait until the filtered list focuses the file,
    // not a row of the list as it was before the filter applied. Quick Open can still
    // drop the Enter on a busy machine, so it is asked again, up to three times.
    const focused = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row.focused').filter({ hasText: name });
    const tab = this.page.locator(`.tab.active[aria-label^="${name}"]`);
    for (let attempt = 1; ; attempt++) {
      await this.page.keyboard.press('Control+P');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(name);
      await focused.first().waitFor({ state: 'visible', timeout: 15_000 });
      await input.press('Enter');
      try {
        await tab.waitFor({ state: 'visible', timeout: attempt === 3 ? 15_000 : 5_000 });
        break;
      } catch (error) {
        if (attempt === 3) throw error;
        await this.page.keyboard.press('Escape');
      }
    }
    await this.focusEditor();
  }

  /** Puts the keyboard focus in the active editor, by command (a click may land anywhere on a wide line). */
  async focusEditor(): Promise<void> {
    await this.runCommand('View: Focus Active Editor Group');
    await this.page.locator('.editor-group-container.active .monaco-editor.focused').waitFor({ state: 'visible', timeout: 10_000 });
    // The class can linger from before; keys go where the document's focus is.
    await this.page.waitForFunction(
      () => !!document.activeElement?.closest('.editor-group-container.active .monaco-editor'),
      undefined,
      { timeout: 10_000 },
    );
  }

  /** The text of the active editor's visible lines. */
  async visibleLines(): Promise<string[]> {
    return this.page
      .locator('.editor-group-container.active .monaco-editor .view-lines .view-line')
      .evaluateAll((lines) =>
        lines
          .map((l) => ({ top: parseFloat((l as HTMLElement).style.top || '0'), text: (l.textContent ?? '').replace(/\u00a0/g, ' ') }))
          .sort((a, b) => a.top - b.top)
          .map((l) => l.text),
      );
  }

  /**
   * Rewrites the user settings as a user does: opens settings.json in the editor, replaces
   * its text and saves (VS Code applies settings it saves itself at once).
   */
  async writeUserSettings(settings: Record<string, unknown>): Promise<void> {
    await this.runCommand('Preferences: Open User Settings (JSON)');
    await this.page.locator('.tab.active[aria-label^="settings.json"]').waitFor({ state: 'visible', timeout: 15_000 });
    await this.focusEditor();
    await this.page.keyboard.press('Control+A');
    // One line, so that auto-indent has nothing to do; then drop whatever the editor
    // closed on its own after the cursor (a bracket, a quote).
    await this.page.keyboard.insertText(JSON.stringify(settings));
    await this.page.keyboard.press('Control+Shift+End');
    await this.page.keyboard.press('Delete');
    await this.page.keyboard.press('Control+S');
    await this.page.locator('.tab.active[aria-label^="settings.json"]:not(.dirty)').waitFor({ state: 'visible', timeout: 15_000 });
    await this.page.keyboard.press('Control+W');
  }

  ghostText(): Locator {
    return this.page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text-decoration-preview, .monaco-editor .ghost-text');
  }

  /** The text of the inline suggestion shown, once there is one. */
  async waitForGhostText(timeoutMs: number): Promise<string> {
    await this.ghostText().first().waitFor({ state: 'visible', timeout: timeoutMs });
    // One element per highlighted token: those on one screen line join as they are. The
    // editor draws spaces as no-break spaces.
    const parts = await this.ghostText().evaluateAll((elements) =>
      elements.map((e) => ({ text: e.textContent ?? '', top: Math.round(e.getBoundingClientRect().top) })),
    );
    const text = parts.map((p, i) => (i > 0 && p.top !== parts[i - 1].top ? '\n' : '') + p.text).join('');
    return text.replace(/\u00a0/g, ' ');
  }

  async statusText(): Promise<string> {
    const item = this.page.locator('[id="tramontane.tramontane.tramontane.status"]');
    if ((await item.count()) === 0) return '';
    return (await item.first().innerText()).trim();
  }

  /**
   * Records every text the Tramontane status item shows from now on, so a state that
   * lasts less than one poll (a server restarted at once) is not missed. The returned
   * function reads what has been seen so far, the text at the start first.
   */
  async recordStatus(): Promise<() => Promise<string[]>> {
    // A string, not a function: the test runner's transpiler would wrap named inner
    // functions in a helper the page does not have.
    await this.page.evaluate(`(() => {
      const seen = [];
      window.tramontaneStatusSeen = seen;
      const read = () =>
        (document.getElementById('tramontane.tramontane.tramontane.status')?.innerText ?? '').trim();
      seen.push(read());
      new MutationObserver(() => {
        const text = read();
        if (text !== seen[seen.length - 1]) seen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    })()`);
    return () => this.page.evaluate(() => [...(window as unknown as { tramontaneStatusSeen: string[] }).tramontaneStatusSeen]);
  }

  async waitForStatus(predicate: (text: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await this.statusText().catch(() => '');
      if (predicate(last)) return last;
      await this.page.waitForTimeout(250);
    }
    const items = await this.page
      .locator('.statusbar-item')
      .evaluateAll((elements) => elements.map((e) => `${e.id}: ${(e as HTMLElement).innerText.trim()}`));
    throw new Error(`status bar never showed ${what}; last: "${last}"; items: ${items.join(' | ')}`);
  }

  /** The chat webview's document (VS Code nests it: iframe.webview → #active-frame). */
  chat(): FrameLocator {
    return this.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  }
}
