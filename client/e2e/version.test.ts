// End-to-end: two headless Chromium browsers edit the demo's shared note (todo.Note, which has
// a version field) through its form. The second save, made from a stale copy, is refused with
// a conflict shown under the form, and the first browser's edit is what the server keeps.

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, TOKENS, type DemoServer } from '../test-support/demo-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let server: DemoServer;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  server = await startDemo({ tokens: TOKENS });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await server?.stop();
});

async function openSignedIn(token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1200 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(5_000);
  await page.goto(server.httpUrl);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in').waitFor({ timeout: 10_000 });
  return page;
}

function noteForm(page: Page) {
  return page.getByRole('form', { name: 'Shared note' });
}

async function noteBody(): Promise<unknown> {
  const response = await fetch(new URL('/api/todo.Note/1', server.httpUrl), {
    headers: { authorization: `Bearer ${TOKENS.admin}` },
  });
  return ((await response.json()) as { body?: unknown }).body;
}

describe('version checks in the demo form', () => {
  it('shows the second browser a conflict and keeps the first edit', async () => {
    const [a, b] = await Promise.all([openSignedIn(TOKENS.alice), openSignedIn(TOKENS.bob)]);
    for (const page of [a, b]) {
      await expect.poll(() => noteForm(page).getByLabel('Body').inputValue(), { timeout: 10_000 }).toBe('Edit me in two browsers.');
    }

    await noteForm(a).getByLabel('Body').fill('Alice was here');
    await noteForm(a).getByRole('button', { name: 'Save' }).click();
    await expect.poll(noteBody, { timeout: 5_000 }).toBe('Alice was here');

    // Bob's copy is still the first version: his save must not overwrite Alice's.
    await noteForm(b).getByLabel('Body').fill('Bob overwrites');
    await noteForm(b).getByRole('button', { name: 'Save' }).click();
    const conflict = noteForm(b).getByRole('alert', { name: 'conflict' });
    await conflict.waitFor();
    expect(await conflict.textContent()).toContain('Someone else saved this first');
    expect(await noteBody()).toBe('Alice was here');
    expect(await noteForm(a).getByRole('alert').count()).toBe(0);

    // Bob loads Alice's version and saves on top of it: both edits are kept.
    await conflict.getByRole('button', { name: 'Load their version' }).click();
    await expect.poll(() => noteForm(b).getByLabel('Body').inputValue()).toBe('Alice was here');
    await noteForm(b).getByLabel('Body').fill('Alice was here; Bob too');
    await noteForm(b).getByRole('button', { name: 'Save' }).click();
    await expect.poll(noteBody, { timeout: 5_000 }).toBe('Alice was here; Bob too');
    expect(await noteForm(b).getByRole('alert').count()).toBe(0);
  });
});
