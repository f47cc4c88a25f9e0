// The chat's markdown renderer against hostile model output: whatever the model writes,
// the HTML that reaches the webview must not run script, navigate to script URLs or load
// anything. Checked by parsing the output in a real DOM (jsdom), not by string matching.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { createRenderer } from '../../extension/webview/markdown';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
const render = createRenderer(dom.window as unknown as Parameters<typeof createRenderer>[0]);

function parse(html: string): HTMLElement {
  const container = dom.window.document.createElement('div');
  container.innerHTML = html;
  return container;
}

/** Every way the HTML could run script or reach out, found by walking the parsed tree. */
function hazards(root: HTMLElement): string[] {
  const found: string[] = [];
  for (const el of Array.from(root.querySelectorAll('*'))) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'iframe', 'object', 'embed', 'img', 'svg', 'math', 'style', 'form', 'link', 'meta', 'base', 'input', 'button'].includes(tag)) {
      found.push(`<${tag}>`);
    }
    for (const a of Array.from(el.attributes)) {
      const name = a.name.toLowerCase();
      if (name.startsWith('on')) found.push(`${tag}[${name}]`);
      if (name === 'style' || name === 'srcset' || name === 'formaction') found.push(`${tag}[${name}]`);
      if (['href', 'src', 'action', 'xlink:href'].includes(name) && !/^(https?:|mailto:)/i.test(a.value.trim())) {
        found.push(`${tag}[${name}=${a.value}]`);
      }
    }
  }
  return found;
}

const HOSTILE: Record<string, string> = {
  'script tag': 'Here you go: <script>window.pwned = 1</script> done',
  'script tag in a list': '- item\n- <script>alert(1)</script>',
  'img onerror': '<img src=x onerror="alert(1)">',
  'markdown image with javascript': '![cat](javascript:alert(1))',
  'markdown image from the web': '![tracker](https://example.com/pixel.png)',
  'svg onload': '<svg onload=alert(1)><circle r=1></svg>',
  'javascript link': '[click me](javascript:alert(document.cookie))',
  'javascript link, obfuscated': '[click](JaVaScRiPt:alert(1)) and [tab](java\tscript:alert(1)) and [ent](&#106;avascript:alert(1))',
  'data link': '[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  'vbscript link': '[vb](vbscript:msgbox(1))',
  'autolink javascript': '<javascript:alert(1)>',
  'raw anchor with handler': '<a href="https://example.com" onclick="alert(1)">x</a>',
  'iframe': '<iframe src="https://example.com"></iframe>',
  'style tag': '<style>body { display: none }</style>',
  'form': '<form action="https://example.com"><button formaction="javascript:alert(1)">go</button></form>',
  'html inside a code fence': '```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```',
  'reference link with javascript': '[x][1]\n\n[1]: javascript:alert(1)',
  'meta refresh': '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  'unclosed tag mid-stream': 'text <img src=x onerror=alert(1',
};

describe('markdown rendering of hostile model output', () => {
  for (const [name, input] of Object.entries(HOSTILE)) {
    it(`renders inert: ${name}`, () => {
      const html = render(input);
      assert.deepEqual(hazards(parse(html)), [], html);
    });
  }

  it('keeps raw HTML in the text visible as text, not markup', () => {
    const root = parse(render('Use <script>x()</script> carefully'));
    assert.equal(root.querySelector('script'), null);
    assert.match(root.textContent ?? '', /<script>x\(\)<\/script>/);
  });

  it('keeps the code of a fenced block intact, tags included, as text', () => {
    const code = 'const a = "<b onclick=\\"x\\">";\nif (a < b && c > d) run();';
    const root = parse(render('```ts\n' + code + '\n```'));
    const block = root.querySelector('pre code');
    assert.ok(block, 'a code block');
    assert.equal(block.textContent, code + '\n');
    assert.equal(block.querySelector('b'), null);
  });

  it('highlights known languages with class-based spans', () => {
    const root = parse(render('```python\ndef f(x):\n    return x + 1\n```'));
    const keyword = root.querySelector('pre code .hljs-keyword');
    assert.ok(keyword, 'a highlighted keyword');
    assert.equal(keyword.textContent, 'def');
  });

  it('maps VS Code language ids to highlight.js languages', () => {
    const root = parse(render('```typescriptreact\nconst x: number = 1;\n```'));
    assert.ok(root.querySelector('pre code .hljs-keyword'));
  });

  it('keeps ordinary markdown: emphasis, lists, inline code, web links', () => {
    const root = parse(render('**bold** and `code`\n\n1. one\n2. two\n\nSee [docs](https://example.com/a?b=1).'));
    assert.equal(root.querySelector('strong')?.textContent, 'bold');
    assert.equal(root.querySelector('code')?.textContent, 'code');
    assert.equal(root.querySelectorAll('ol li').length, 2);
    assert.equal(root.querySelector('a')?.getAttribute('href'), 'https://example.com/a?b=1');
  });

  it('renders a javascript: link as text without a link', () => {
    const root = parse(render('[click me](javascript:alert(1))'));
    assert.equal(root.querySelector('a'), null);
    assert.match(root.textContent ?? '', /click me/);
  });
});
