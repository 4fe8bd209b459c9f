import type { Pk } from '@chanbind/client';
import { useConnection, useMutation, useRetrieve, useSearch } from '@chanbind/react';
import { ConnectionChip, LiveTable, ModelForm, describeError, rowLabel, type LiveColumn } from '@chanbind/mui';
import Alert from '@mui/material/Alert';
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import Container from '@mui/material/Container';
import IconButton from '@mui/material/IconButton';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Snackbar from '@mui/material/Snackbar';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Toolbar from '@mui/material/Toolbar';
import Typography from '@mui/material/Typography';
import { useMemo, useState } from 'react';
import { InlineEdit } from './InlineEdit.js';
import { SignIn } from './SignIn.js';

/** A row of `todo.Task`. */
export interface Task {
  id: number;
  title: string;
  done: boolean;
  priority: number;
  owner_id: number | null;
  created_at: string;
  /** Expanded with the page (`expand: "owner"`): one read for every row's owner. */
  owner?: { id: number; username: string } | null;
  /** Included with the page: the latest comment, if any. */
  comments?: Comment[];
}

/** A row of `todo.Comment`, keyed by a UUID. */
export interface Comment {
  id: string;
  task_id: number;
  author_id: number | null;
  body: string;
  created_at: string;
  author?: { id: number; username: string } | null;
}

/** What the board reads with each task: its owner, and its latest comment. */
const TASK_RELATIONS = { expand: 'owner', include: { comments: { limit: 1, order: '-created_at' } } } as const;

type Status = 'all' | 'open' | 'done';

export function App() {
  const { hello, user, state, lastError } = useConnection();
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState<Status>('all');
  const [minPriority, setMinPriority] = useState<number | ''>('');
  const [selected, setSelected] = useState<Pk | null>(null);
  const [notice, setNotice] = useState<{ severity: 'success' | 'error'; text: string } | null>(null);
  // Optimistic: a tick, a new title or priority shows at once (the row dimmed until the
  // server answers) and goes back if the server refuses it.
  const tasks = useMutation<Task>('todo.Task', { optimistic: true });

  const filters = useMemo(() => {
    const f: Record<string, unknown> = {};
    if (status !== 'all') f.done = status === 'done';
    if (minPriority !== '') f.priority__gte = minPriority;
    return f;
  }, [status, minPriority]);

  const fail = (e: unknown) => {
    const error = e as { code?: string; message?: string };
    setNotice({ severity: 'error', text: describeError(error.code ?? 'internal', error.message ?? String(e)) });
  };

  const columns: LiveColumn<Task>[] = [
    { field: 'id', label: '#', width: 56 },
    {
      field: 'title',
      label: 'Title',
      render: (t) => (
        <span>
          {t.title}
          <InlineEdit value={t.title} label={`rename ${t.title}`} onCommit={(title) => tasks.update(t.id, { title }).catch(fail)}>
            ✎
          </InlineEdit>
        </span>
      ),
    },
    {
      field: 'done',
      label: 'Done',
      width: 72,
      render: (t) => (
        <Checkbox
          size="small"
          checked={t.done}
          slotProps={{ input: { 'aria-label': `done: ${t.title}` } as never }}
          onClick={(e) => e.stopPropagation()}
          onChange={(e) => tasks.update(t.id, { done: e.target.checked }).catch(fail)}
        />
      ),
    },
    {
      field: 'priority',
      label: 'Priority',
      width: 90,
      align: 'right',
      render: (t) => (
        <InlineEdit value={t.priority} type="number" label={`priority of ${t.title}`} onCommit={(priority) => tasks.update(t.id, { priority }).catch(fail)} />
      ),
    },
    { field: 'owner_id', label: 'Owner', render: (t) => <span>{t.owner?.username ?? (t.owner_id === null ? '—' : `#${t.owner_id}`)}</span> },
    {
      field: 'comments',
      label: 'Latest comment',
      sortable: false,
      render: (t) => <span>{t.comments?.[0]?.body ?? ''}</span>,
    },
  ];

  return (
    <Box sx={{ minHeight: '100vh' }}>
      <AppBar position="static">
        <Toolbar sx={{ gap: 2, flexWrap: 'wrap' }}>
          <Typography variant="h6" component="h1" sx={{ flexGrow: 1 }}>
            chanbind task board
          </Typography>
          <ConnectionChip />
          <SignIn />
        </Toolbar>
      </AppBar>
      <Container maxWidth="lg" sx={{ py: 3 }}>
        {lastError && state !== 'open' ? (
          <Alert severity="warning" sx={{ mb: 2 }}>
            Cannot reach the chanbind server ({lastError.message}); retrying. If it refuses anonymous visitors
            (<code>--no-anonymous</code>), sign in with one of its tokens.
          </Alert>
        ) : null}
        <Stack direction={{ xs: 'column', md: 'row' }} spacing={3} sx={{ alignItems: 'flex-start' }}>
          <Paper sx={{ p: 2, flex: 2, minWidth: 0, width: '100%' }}>
            <Stack direction="row" spacing={1} sx={{ mb: 1, flexWrap: 'wrap', rowGap: 1 }}>
              <TextField size="small" label="Search titles" value={query} onChange={(e) => setQuery(e.target.value)} />
              <TextField size="small" select label="Status" value={status} onChange={(e) => setStatus(e.target.value as Status)} sx={{ minWidth: 110 }}>
                <MenuItem value="all">all</MenuItem>
                <MenuItem value="open">open</MenuItem>
                <MenuItem value="done">done</MenuItem>
              </TextField>
              <TextField
                size="small"
                select
                label="Priority ≥"
                value={minPriority === '' ? '' : String(minPriority)}
                onChange={(e) => setMinPriority(e.target.value === '' ? '' : Number(e.target.value))}
                sx={{ minWidth: 110 }}
              >
                <MenuItem value="">any</MenuItem>
                {[0, 1, 2, 3, 4, 5].map((p) => (
                  <MenuItem key={p} value={String(p)}>
                    {p}
                  </MenuItem>
                ))}
              </TextField>
              <Box sx={{ flexGrow: 1 }} />
              <Button variant="outlined" onClick={() => setSelected(null)} disabled={selected === null}>
                New task
              </Button>
            </Stack>
            <LiveTable<Task>
              stream="todo.Task"
              aria-label="tasks"
              columns={columns}
              filters={filters}
              query={query.trim() || undefined}
              expand={TASK_RELATIONS.expand}
              include={TASK_RELATIONS.include}
              defaultOrder="-priority"
              selectedId={selected}
              onRowClick={(t) => setSelected(t.id)}
              emptyText={user === null && state === 'open' ? 'Sign in to see tasks.' : 'No tasks match.'}
              actions={(t) => (
                <IconButton
                  size="small"
                  aria-label={`delete ${t.title}`}
                  onClick={() =>
                    tasks
                      .remove(t.id)
                      .then(() => {
                        if (selected === t.id) setSelected(null);
                        setNotice({ severity: 'success', text: `Deleted “${t.title}”` });
                      })
                      .catch(fail)
                  }
                >
                  ✕
                </IconButton>
              )}
            />
          </Paper>
          <Paper sx={{ p: 2, flex: 1, minWidth: 280, width: '100%' }}>
            <SelectedNotice id={selected} onClear={() => setSelected(null)} />
            <ModelForm<Task>
              key={selected ?? 'new'}
              stream="todo.Task"
              id={selected}
              title={selected === null ? 'New task' : `Edit task #${selected}`}
              fieldProps={{ owner_id: { label: 'Owner', getOptionLabel: rowLabel } }}
              onSaved={(reply) =>
                setNotice({ severity: 'success', text: selected === null ? `Created task #${reply.id}` : `Saved task #${reply.id}` })
              }
              onCancel={selected === null ? undefined : () => setSelected(null)}
            />
            {typeof selected === 'number' ? <Comments taskId={selected} onError={fail} /> : null}
          </Paper>
        </Stack>
        <Paper sx={{ p: 2, mt: 2 }}>
          {/* todo.Note has a version field: its form sends it back as `if_version`, so a
              second browser saving a stale copy sees the conflict under the form instead of
              overwriting the first one's edit. */}
          <ModelForm stream="todo.Note" id={1} title="Shared note" onSaved={() => setNotice({ severity: 'success', text: 'Saved the note' })} />
        </Paper>
        <Typography variant="body2" color="text.secondary" sx={{ mt: 3 }}>
          Open this page in a second browser: every change appears in both at once. {hello ? `Server ${hello.server}, protocol ${hello.protocol}.` : ''}
        </Typography>
      </Container>
      <Snackbar open={notice !== null} autoHideDuration={4000} onClose={() => setNotice(null)} anchorOrigin={{ vertical: 'bottom', horizontal: 'left' }}>
        {notice ? (
          <Alert severity={notice.severity} onClose={() => setNotice(null)} variant="filled">
            {notice.text}
          </Alert>
        ) : undefined}
      </Snackbar>
    </Box>
  );
}

/** The selected task's comments, newest first, each with its author's name, and a box to add
 * one. Comments are keyed by UUIDs the server generates. */
function Comments({ taskId, onError }: { taskId: number; onError: (e: unknown) => void }) {
  const comments = useSearch<Comment>('todo.Comment', {
    filters: { task_id: taskId },
    order: '-created_at',
    limit: 5,
    expand: 'author',
  });
  const mutation = useMutation<Comment>('todo.Comment');
  const [body, setBody] = useState('');
  const add = () => {
    const text = body.trim();
    if (!text) return;
    mutation
      .create({ task_id: taskId, body: text })
      .then(() => setBody(''))
      .catch(onError);
  };
  return (
    <Box sx={{ mt: 2 }} aria-label="comments">
      <Typography variant="subtitle2">Comments ({comments.data?.count ?? 0})</Typography>
      {(comments.data?.rows ?? []).map((c) => (
        <Typography key={c.id} variant="body2" data-testid="comment">
          <b>{c.author?.username ?? 'someone'}</b>: {c.body}
        </Typography>
      ))}
      <Stack direction="row" spacing={1} sx={{ mt: 1 }}>
        <TextField size="small" label="Add a comment" value={body} onChange={(e) => setBody(e.target.value)} />
        <Button onClick={add} disabled={!body.trim()}>
          Add
        </Button>
      </Stack>
    </Box>
  );
}

/** Says so when the task being edited is deleted (or leaves the user's view) elsewhere. */
function SelectedNotice({ id, onClear }: { id: Pk | null; onClear: () => void }) {
  const task = useRetrieve<Task>('todo.Task', id);
  if (id === null || !task.deleted) return null;
  return (
    <Alert severity="warning" sx={{ mb: 2 }} action={<Button onClick={onClear}>New task</Button>}>
      This task was deleted by someone else.
    </Alert>
  );
}
