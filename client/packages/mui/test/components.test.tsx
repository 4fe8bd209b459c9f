// The Material UI components in jsdom against a real demo server.

import { ChanbindClient, type FormField } from '@chanbind/client';
import { ChanbindProvider } from '@chanbind/react';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { useState, type ReactNode } from 'react';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FieldInput, LiveTable, ModelForm, rowLabel } from '../src/index.js';
import { startDemo, TOKENS, type DemoServer } from '../../../test-support/demo-server.js';

let server: DemoServer;
const clients: ChanbindClient[] = [];

function Wrap({ children, token = TOKENS.admin }: { children?: ReactNode; token?: string }) {
  const [client] = useState(() => {
    const c = new ChanbindClient({ url: server.wsUrl, WebSocket: WebSocket as never, token });
    clients.push(c);
    return c;
  });
  return <ChanbindProvider client={client}>{children}</ChanbindProvider>;
}

beforeAll(async () => {
  server = await startDemo({ tokens: TOKENS });
});

afterEach(() => cleanup());

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

function bodyRows(table: HTMLElement): string[] {
  return within(table)
    .getAllByRole('row')
    .slice(1)
    .map((r) => r.getAttribute('data-row-id') ?? '');
}

describe('LiveTable', () => {
  it('pages, sorts and filters on the server, and updates rows in place', async () => {
    render(
      <Wrap>
        <LiveTable
          stream="auth.User"
          aria-label="users"
          pageSize={5}
          filters={{ username__startswith: 'user0' }}
          columns={[{ field: 'id' }, { field: 'username', label: 'Name' }]}
        />
      </Wrap>,
    );
    const table = await screen.findByRole('table', { name: 'users' });
    await waitFor(() => expect(bodyRows(table).length).toBe(5));
    expect(table.getAttribute('data-count')).toBe('99');
    const firstIds = bodyRows(table);

    fireEvent.click(screen.getByRole('button', { name: 'Go to next page' }));
    await waitFor(() => expect(bodyRows(table)).not.toEqual(firstIds));
    expect(screen.getByText('6–10 of 99')).toBeTruthy();

    fireEvent.click(screen.getByText('Name'));
    fireEvent.click(screen.getByText('Name')); // descending
    await waitFor(() => expect(within(table).getAllByRole('row')[1]!.textContent).toContain('user099'));

    const writer = new ChanbindClient({ url: server.wsUrl, WebSocket: WebSocket as never, token: TOKENS.admin });
    clients.push(writer);
    const top = within(table).getAllByRole('row')[1]!.getAttribute('data-row-id');
    await writer.model('auth.User').update(Number(top), { username: 'user099-renamed' });
    await waitFor(() => expect(within(table).getAllByRole('row')[1]!.textContent).toContain('user099-renamed'));
  });

  it('shows the server’s refusal', async () => {
    // Anonymous (an empty token is none): the demo lets it connect but not read tasks. A wrong
    // token would not get this far: its handshake is refused with 401.
    render(
      <Wrap token="">
        <LiveTable stream="todo.Task" aria-label="tasks" columns={[{ field: 'title' }]} />
      </Wrap>,
    );
    expect((await screen.findByRole('alert')).textContent).toContain('Sign in first');
  });
});

describe('LiveTable with optimistic writes', () => {
  it('marks a row pending until the server answers', async () => {
    const client = new ChanbindClient({ url: server.wsUrl, WebSocket: WebSocket as never, token: TOKENS.admin });
    clients.push(client);
    const mark = `pending row ${Date.now()}`;
    const { id } = await client.model('todo.Task').create({ title: mark });
    render(
      <ChanbindProvider client={client}>
        <LiveTable stream="todo.Task" aria-label="pending" filters={{ title__startswith: mark }} columns={[{ field: 'title' }]} />
      </ChanbindProvider>,
    );
    const table = await screen.findByRole('table', { name: 'pending' });
    await waitFor(() => expect(bodyRows(table)).toEqual([String(id)]));
    const row = () => table.querySelector(`tr[data-row-id="${id}"]`)!;
    expect(row().getAttribute('data-pending')).toBeNull();

    let write: Promise<unknown> | undefined;
    act(() => {
      write = client.model('todo.Task').update(id, { title: `${mark}, renamed` }, { optimistic: true });
    });
    expect(row().getAttribute('data-pending')).toBe('true');
    expect(row().getAttribute('aria-busy')).toBe('true');
    expect(within(row() as HTMLElement).getByLabelText('saving')).toBeTruthy();
    expect(row().textContent).toContain(`${mark}, renamed`);
    await act(async () => {
      await write;
    });
    expect(row().getAttribute('data-pending')).toBeNull();
    expect(row().textContent).toContain(`${mark}, renamed`);
  });
});

describe('ModelForm', () => {
  it('marks required fields, shows errors under their fields, and saves', async () => {
    let saved: unknown;
    render(
      <Wrap token={TOKENS.alice}>
        <ModelForm stream="todo.Task" title="New task" onSaved={(r) => (saved = r)} />
      </Wrap>,
    );
    const title = (await screen.findByLabelText(/^Title/)) as HTMLInputElement;
    expect(title.required).toBe(true);
    const priority = screen.getByLabelText('Priority') as HTMLInputElement;
    fireEvent.change(priority, { target: { value: '9' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    expect((await screen.findByText('must be <= 5')).id).toBe('todo-Task-new-priority-helper-text');
    expect(priority.getAttribute('aria-invalid')).toBe('true');

    fireEvent.change(title, { target: { value: 'from the MUI form' } });
    fireEvent.change(priority, { target: { value: '3' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(saved).toMatchObject({ success: true, object: { title: 'from the MUI form', priority: 3 } }));
    // Read-only fields of a new row (owner, created at) are not shown.
    expect(screen.queryByLabelText('Owner id')).toBeNull();
  });

  it('edits with a foreign key autocomplete that searches the referenced stream', async () => {
    render(
      <Wrap token={TOKENS.admin}>
        <ModelForm stream="todo.Task" id={1} title="Edit" />
      </Wrap>,
    );
    const owner = (await screen.findByLabelText('Owner id')) as HTMLInputElement;
    await waitFor(() => expect(owner.value).toBe('admin'));
    owner.focus(); // MUI resets the text of an unfocused autocomplete
    fireEvent.change(owner, { target: { value: 'user04' } });
    fireEvent.keyDown(owner, { key: 'ArrowDown' });
    const option = await screen.findByRole('option', { name: 'user042' }, { timeout: 3000 });
    fireEvent.click(option);
    await waitFor(() => expect(owner.value).toBe('user042'));
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    const writer = clients[clients.length - 1]!;
    await waitFor(async () => {
      const task = await writer.model<{ owner_id: number }>('todo.Task').retrieve(1);
      const user = await writer.model<{ username: string }>('auth.User').retrieve(task.owner_id);
      expect(user.username).toBe('user042');
    });
  });
});

describe('FieldInput', () => {
  const base = { required: false, read_only: false, value: null };
  it('renders an input for every field type', () => {
    const fields: FormField[] = [
      { ...base, name: 's', label: 'S', type: 'string', max_length: 3 },
      { ...base, name: 't', label: 'T', type: 'text' },
      { ...base, name: 'i', label: 'I', type: 'integer', min: 0, max: 5 },
      { ...base, name: 'f', label: 'F', type: 'float' },
      { ...base, name: 'd', label: 'D', type: 'decimal' },
      { ...base, name: 'b', label: 'B', type: 'boolean' },
      { ...base, name: 'da', label: 'Da', type: 'date' },
      { ...base, name: 'dt', label: 'Dt', type: 'datetime' },
      { ...base, name: 'dl', label: 'Dl', type: 'datetime_local', value: '2026-01-02T03:04:05.000000' },
      { ...base, name: 'u', label: 'U', type: 'uuid' },
      { ...base, name: 'e', label: 'E', type: 'email' },
      { ...base, name: 'j', label: 'J', type: 'json', value: { a: 1 } },
      { ...base, name: 'ar', label: 'Ar', type: 'array', value: [1] },
      { ...base, name: 'c', label: 'C', type: 'choice', choices: [['lo', 'Low'], ['hi', 'High']] },
    ];
    const changes: Record<string, unknown> = {};
    function Harness() {
      const [values, setValues] = useState<Record<string, unknown>>(Object.fromEntries(fields.map((f) => [f.name, f.value])));
      return (
        <>
          {fields.map((f) => (
            <FieldInput
              key={f.name}
              field={f}
              value={values[f.name]}
              onChange={(v) => {
                changes[f.name] = v;
                setValues((old) => ({ ...old, [f.name]: v }));
              }}
              errors={f.name === 'e' ? ['bad email'] : []}
            />
          ))}
        </>
      );
    }
    render(
      <Wrap>
        <Harness />
      </Wrap>,
    );
    fireEvent.change(screen.getByLabelText('I'), { target: { value: '4' } });
    fireEvent.change(screen.getByLabelText('D'), { target: { value: '1.50' } });
    fireEvent.change(screen.getByLabelText('S'), { target: { value: 'ab' } });
    fireEvent.change(screen.getByLabelText('S'), { target: { value: '' } });
    fireEvent.click(screen.getByLabelText('B'));
    fireEvent.change(screen.getByLabelText('J'), { target: { value: '{"b": [1, 2]}' } });
    // The input shows the value without a zone (jsdom adds milliseconds, as some browsers do).
    expect((screen.getByLabelText('Dl') as HTMLInputElement).value).toMatch(/^2026-01-02T03:04:05(\.000)?$/);
    fireEvent.change(screen.getByLabelText('Dl'), { target: { value: '2026-05-06T07:08:09' } });
    fireEvent.change(screen.getByLabelText('Ar'), { target: { value: '[1, 2]' } });
    expect(changes).toEqual({
      i: 4,
      d: '1.50',
      s: null,
      b: true,
      j: { b: [1, 2] },
      // As the input gives it: the server takes it with or without milliseconds.
      dl: expect.stringMatching(/^2026-05-06T07:08:09(\.000)?$/),
      ar: [1, 2],
    });
    expect(screen.getByText('bad email')).toBeTruthy();
    expect((screen.getByLabelText('S') as HTMLInputElement).maxLength).toBe(3);
  });

  it('names rows for autocompletes', () => {
    expect(rowLabel({ id: 3, username: 'alice' })).toBe('alice');
    expect(rowLabel({ id: 3, title: 'T', username: 'u' })).toBe('T');
    expect(rowLabel({ id: 3 })).toBe('#3');
  });
});
