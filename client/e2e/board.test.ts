// End-to-end: the task board in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) against the real Rust demo server, which serves the page at `/`.
//
// CHANBIND_E2E_PAGE=static serves the built page from Node instead and points it at the
// demo's WebSocket (`?server=`): for a demo binary that does not serve the page yet.

import WebSocket from 'ws';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChanbindClient } from '../packages/client/src/index.js';
import { repoRoot, startDemo, TOKENS, type DemoServer } from '../test-support/demo-server.js';
import { serveStatic } from '../test-support/static-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.join(repoRoot, 'client', 'test-results');
const STATIC = process.env.CHANBIND_E2E_PAGE === 'static';

let server: DemoServer;
let browser: Browser;
let pageUrl: string;
let closeStatic: (() => Promise<void>) | undefined;
/** Why the page cannot be tested, when the demo does not serve it. */
let notServed: string | undefined;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startDemo({ tokens: TOKENS });
  if (STATIC) {
    const page = await serveStatic();
    closeStatic = page.close;
    pageUrl = `${page.url}?server=${encodeURIComponent(server.wsUrl)}`;
  } else {
    pageUrl = server.httpUrl;
    const response = await fetch(pageUrl).catch((e: unknown) => ({ status: 0, text: async () => String(e), headers: new Headers() }));
    if (response.status !== 200 || !/^text\/html/.test(response.headers.get('content-type') ?? '')) {
      notServed =
        `the demo server does not serve the page at / (GET / answered ${response.status}: ${(await response.text()).slice(0, 120)}); ` +
        'wire examples/src/demo_page.rs into the server, or run with CHANBIND_E2E_PAGE=static';
    }
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await closeStatic?.();
  await server?.stop();
});

/** A new browser (context: its own storage, so its own sign-in) on the board. */
async function openBoard(token?: string): Promise<Page> {
  if (notServed) throw new Error(notServed);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(5_000);
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(pageUrl);
  await expect.poll(() => page.locator('[data-state="open"]').count(), { timeout: 10_000 }).toBe(1);
  if (token) await signIn(page, token);
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in').waitFor({ timeout: 10_000 });
}

function rowTitled(page: Page, title: string) {
  return page.locator('table[aria-label="tasks"] tbody tr').filter({ hasText: title });
}

async function createTask(page: Page, title: string, priority?: number): Promise<void> {
  const form = page.getByRole('form', { name: 'New task' });
  await form.getByLabel('Title').fill(title);
  if (priority !== undefined) await form.getByLabel('Priority').fill(String(priority));
  await form.getByRole('button', { name: 'Create' }).click();
}

describe('the demo page', () => {
  it('is served by the demo server at / over plain HTTP', async () => {
    if (STATIC) return;
    const response = await fetch(server.httpUrl).catch((e: unknown) => {
      throw new Error(`GET / failed: ${String(e)}`);
    });
    const body = await response.text();
    expect(response.status, `GET / on the demo answered ${response.status}: ${body.slice(0, 200)}`).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(body).toContain('/assets/app.js');
    const script = await fetch(new URL('/assets/app.js', server.httpUrl));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
  });

  it('shows a task created in one browser in another within a second', async () => {
    const [a, b] = await Promise.all([openBoard(TOKENS.admin), openBoard(TOKENS.admin)]);
    await rowTitled(b, 'Bind a table in five lines').waitFor();
    const title = `Live from A ${Date.now()}`;
    await createTask(a, title, 5);
    const started = Date.now();
    await rowTitled(b, title).waitFor({ timeout: 1000 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(1000);
    await rowTitled(a, title).waitFor({ timeout: 1000 });
    await b.screenshot({ path: path.join(SHOTS, 'two-browsers-b.png'), fullPage: true });

    // An edit in B shows in A, in place.
    await rowTitled(b, title).getByText(title).click();
    const edit = b.getByRole('form', { name: /^Edit task #\d+$/ });
    await edit.getByLabel('Title').fill(`${title}, edited in B`);
    await edit.getByRole('button', { name: 'Save' }).click();
    await rowTitled(a, `${title}, edited in B`).waitFor({ timeout: 1000 });

    // Ticking "done" in A shows in B.
    // (The board's edits are optimistic: A's checkbox flips at once, B's with the push.)
    await a.getByLabel(`done: ${title}, edited in B`).click();
    await expect.poll(() => b.getByLabel(`done: ${title}, edited in B`).isChecked(), { timeout: 1000 }).toBe(true);

    // A deletion in A leaves B's table.
    await rowTitled(a, `${title}, edited in B`).getByRole('button', { name: /^delete / }).click();
    await expect.poll(() => rowTitled(b, `${title}, edited in B`).count(), { timeout: 1000 }).toBe(0);
    await a.screenshot({ path: path.join(SHOTS, 'two-browsers-a.png'), fullPage: true });
  });

  it('shows a failing submit’s errors under their fields', async () => {
    const page = await openBoard(TOKENS.alice);
    const form = page.getByRole('form', { name: 'New task' });
    await form.getByLabel('Priority').fill('9');
    await form.getByRole('button', { name: 'Create' }).click();
    const priorityHelp = page.locator('#todo-Task-new-priority-helper-text');
    const titleHelp = page.locator('#todo-Task-new-title-helper-text');
    await expect.poll(() => priorityHelp.textContent(), { timeout: 3000 }).toBe('must be <= 5');
    expect(await titleHelp.textContent()).toMatch(/^this field (is required|may not be blank)$/);
    // MUI marks the inputs invalid for assistive technology too.
    expect(await form.getByLabel('Priority').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: path.join(SHOTS, 'form-errors.png'), fullPage: true });

    // Fixing the fields clears their errors and creates the task.
    await form.getByLabel('Title').fill('Fixed after an error');
    await form.getByLabel('Priority').fill('4');
    await form.getByRole('button', { name: 'Create' }).click();
    await rowTitled(page, 'Fixed after an error').waitFor({ timeout: 3000 });
    expect(await priorityHelp.count()).toBe(0);
  });

  it('signing in as alice hides bob’s tasks', async () => {
    const [alice, bob] = await Promise.all([openBoard(TOKENS.alice), openBoard(TOKENS.bob)]);
    const secret = `Bob's own ${Date.now()}`;
    await createTask(bob, secret);
    await rowTitled(bob, secret).waitFor({ timeout: 3000 });
    await createTask(alice, 'Alice was here');
    await rowTitled(alice, 'Alice was here').waitFor({ timeout: 3000 });
    // Give a push time to (wrongly) arrive.
    await alice.waitForTimeout(300);
    expect(await rowTitled(alice, secret).count()).toBe(0);
    expect(await rowTitled(alice, 'Bind a table in five lines').count()).toBe(0);
    expect(await rowTitled(bob, 'Alice was here').count()).toBe(0);
    await alice.screenshot({ path: path.join(SHOTS, 'alice.png'), fullPage: true });

    // Anonymous: the board asks to sign in instead of failing silently.
    await alice.getByRole('button', { name: 'Sign out' }).click();
    await alice.getByRole('alert').filter({ hasText: 'Sign in first' }).first().waitFor({ timeout: 3000 });
    expect(await rowTitled(alice, 'Alice was here').count()).toBe(0);
    await alice.screenshot({ path: path.join(SHOTS, 'anonymous.png'), fullPage: true });
  });

  it('shows owners and latest comments read with the page, and adds a comment', async () => {
    const page = await openBoard(TOKENS.admin);
    const frames: string[] = [];
    page.on('websocket', (ws) => ws.on('framesent', (f) => frames.push(String(f.payload))));
    await page.reload();
    await expect.poll(() => page.locator('[data-state="open"]').count(), { timeout: 10_000 }).toBe(1);
    const row = rowTitled(page, 'Bind a table in five lines');
    await row.waitFor();
    // The owner's name comes from `expand`, on the page's own search: no retrieve per row.
    await expect.poll(() => row.textContent()).toContain('admin');
    expect(frames.some((f) => f.includes('"todo.Task.search') && f.includes('"expand":"owner"'))).toBe(true);
    expect(frames.filter((f) => f.includes('"auth.User.retrieve'))).toEqual([]);

    await row.click();
    const comments = page.getByLabel('comments');
    await comments.getByLabel('Add a comment').fill('Looks good');
    await comments.getByRole('button', { name: 'Add' }).click();
    await comments.getByTestId('comment').filter({ hasText: 'admin: Looks good' }).waitFor();
    // The board's row shows it too, through `include`, pushed to the live search.
    await expect.poll(() => row.textContent()).toContain('Looks good');
  });

  it('shows a refused edit at once, pending, then rolls it back in the table and says why', async () => {
    const title = `Refused edit ${Date.now()}`;
    const writer = new ChanbindClient({ url: server.wsUrl, token: TOKENS.admin, WebSocket: WebSocket as never });
    try {
      await writer.model('todo.Task').create({ title, priority: 2 });
    } finally {
      writer.close();
    }
    const page = await openBoard(TOKENS.admin);
    const row = rowTitled(page, title);
    await row.waitFor();
    const id = await row.getAttribute('data-row-id');
    // Every state the row goes through, as the user sees it (no timing involved).
    await page.evaluate((rowId) => {
      const seen: { pending: string | null; priority: string | null }[] = [];
      (window as unknown as { seen: typeof seen }).seen = seen;
      const record = () => {
        const tr = document.querySelector(`table[aria-label="tasks"] tr[data-row-id="${rowId}"]`);
        const cell = tr?.querySelector('[aria-label^="priority of "]') ?? tr?.querySelector('input[aria-label^="priority of "]');
        const priority = cell instanceof HTMLInputElement ? null : (cell?.textContent ?? null);
        const last = seen[seen.length - 1];
        const now = { pending: tr?.getAttribute('data-pending') ?? null, priority };
        if (priority !== null && (!last || last.pending !== now.pending || last.priority !== now.priority)) seen.push(now);
      };
      record();
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    }, id);

    await page.getByRole('button', { name: `priority of ${title}` }).click();
    const input = page.getByRole('spinbutton', { name: `priority of ${title}` });
    await input.fill('9');
    await input.press('Enter');

    await page.getByRole('alert').filter({ hasText: 'must be <= 5' }).first().waitFor({ timeout: 3000 });
    await expect.poll(() => row.getByRole('button', { name: `priority of ${title}` }).textContent(), { timeout: 3000 }).toBe('2');
    expect(await row.getAttribute('data-pending')).toBeNull();
    const seen = await page.evaluate(() => (window as unknown as { seen: unknown[] }).seen);
    // Shown at once as 9, marked pending; then back to the server's 2.
    expect(seen).toEqual([
      { pending: null, priority: '2' },
      { pending: 'true', priority: '9' },
      { pending: null, priority: '2' },
    ]);
    await page.screenshot({ path: path.join(SHOTS, 'refused-edit.png'), fullPage: true });

    // An accepted edit stays.
    await page.getByRole('button', { name: `priority of ${title}` }).click();
    await page.getByRole('spinbutton', { name: `priority of ${title}` }).fill('4');
    await page.getByRole('spinbutton', { name: `priority of ${title}` }).press('Enter');
    await expect.poll(() => row.getByRole('button', { name: `priority of ${title}` }).textContent(), { timeout: 3000 }).toBe('4');
    await expect.poll(() => row.getAttribute('data-pending'), { timeout: 3000 }).toBeNull();
  });

  it('reconnects after the demo server restarts and shows the current rows', async () => {
    const page = await openBoard(TOKENS.admin);
    const doomed = `Before the restart ${Date.now()}`;
    await createTask(page, doomed);
    await rowTitled(page, doomed).waitFor({ timeout: 3000 });

    await server.restart();
    // The in-memory store started over from the seed: the page must show that, not its old rows.
    await expect.poll(() => rowTitled(page, doomed).count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => page.locator('[data-state="open"]').count(), { timeout: 15_000 }).toBe(1);
    await rowTitled(page, 'Bind a table in five lines').waitFor();
    expect(await page.getByTestId('signed-in').textContent()).toContain('admin');

    // And it is live again: a write from elsewhere appears.
    const other = new ChanbindClient({ url: server.wsUrl, token: TOKENS.admin, WebSocket: WebSocket as never });
    try {
      await other.model('todo.Task').create({ title: 'Written after the restart' });
    } finally {
      other.close();
    }
    await rowTitled(page, 'Written after the restart').waitFor({ timeout: 1000 });
    await page.screenshot({ path: path.join(SHOTS, 'after-restart.png'), fullPage: true });
  });
});

