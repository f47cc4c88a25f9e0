// Model output → safe HTML. markdown-it renders (raw HTML in the text stays text), with
// code blocks highlighted by highlight.js; DOMPurify then removes anything that could run
// script or fetch: event handlers, javascript:/data: URLs, forms, frames, images, styles.
// The webview's CSP is the last line behind both.
import createDOMPurify, { type Config, type WindowLike } from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import csharp from 'highlight.js/lib/languages/csharp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import MarkdownIt from 'markdown-it';

const LANGUAGES = { bash, c, cpp, csharp, css, diff, go, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);
// VS Code language ids that highlight.js knows by another name.
hljs.registerAliases(['typescriptreact', 'tsx'], { languageName: 'typescript' });
hljs.registerAliases(['javascriptreact', 'jsx'], { languageName: 'javascript' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['shellscript', 'sh', 'zsh'], { languageName: 'bash' });

/** Links may go to the web or to mail, nothing else. */
const SAFE_URL = /^(?:https?:|mailto:)/i;

const PURIFY_CONFIG: Config = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'img', 'picture', 'video', 'audio', 'source', 'svg', 'math', 'iframe', 'object', 'embed', 'link', 'meta', 'base'],
  FORBID_ATTR: ['style', 'srcset', 'action', 'formaction', 'xlink:href', 'ping', 'target'],
  ALLOWED_URI_REGEXP: SAFE_URL,
  ALLOW_DATA_ATTR: false,
};

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function highlight(code: string, language: string): string {
  const name = language.trim().toLowerCase();
  if (name && hljs.getLanguage(name)) {
    return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
  }
  return escapeHtml(code);
}

export type Render = (markdown: string) => string;

/** A renderer bound to a window (the webview's, or a test's jsdom). */
export function createRenderer(window: WindowLike): Render {
  const purify = createDOMPurify(window);
  const md = new MarkdownIt({ html: false, linkify: true, typographer: false, highlight });
  // markdown-it's own check lets some schemes through (e.g. data:image); links here are
  // only ever web pages.
  md.validateLink = (url) => SAFE_URL.test(url.trim());
  return (markdown) => purify.sanitize(md.render(markdown), { ...PURIFY_CONFIG, RETURN_TRUSTED_TYPE: false }) as string;
}
