import type { Expand, Filters, Include, Pk, Row } from '@chanbind/client';
import { useSearch } from '@chanbind/react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import CircularProgress from '@mui/material/CircularProgress';
import LinearProgress from '@mui/material/LinearProgress';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TablePagination from '@mui/material/TablePagination';
import TableRow from '@mui/material/TableRow';
import TableSortLabel from '@mui/material/TableSortLabel';
import { keyframes } from '@mui/material/styles';
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { describeError } from './ModelForm.js';

/** One column of a {@link LiveTable}. */
export interface LiveColumn<R> {
  /** The row field shown, and sorted on. */
  field: string;
  label?: ReactNode;
  /** Whether clicking the header sorts by the field (default true). */
  sortable?: boolean;
  render?: (row: R) => ReactNode;
  align?: 'left' | 'right' | 'center';
  width?: number | string;
}

/** Props of {@link LiveTable}. */
export interface LiveTableProps<R> {
  stream: string;
  columns: LiveColumn<R>[];
  /** Django-style filters, sent to the server (the page goes back to 1 when they change). */
  filters?: Filters;
  /** Text searched in the binding's search fields. */
  query?: string;
  /** To-one relations to show with each row (`"owner"`): read with the page, kept live. */
  expand?: Expand;
  /** To-many relations to show with each row (`{"comments": {"limit": 3}}`). */
  include?: Include;
  /** The first order (default: the server's, primary key). */
  defaultOrder?: string;
  pageSize?: number;
  pageSizeOptions?: number[];
  onRowClick?: (row: R) => void;
  selectedId?: Pk | null;
  /** A last cell per row (buttons). */
  actions?: (row: R) => ReactNode;
  emptyText?: ReactNode;
  /** Briefly highlight rows that arrive or change (default true). */
  highlightChanges?: boolean;
  'aria-label'?: string;
}

const flash = keyframes`
  from { background-color: rgba(255, 193, 7, 0.45); }
  to { background-color: transparent; }
`;

/** A table over a live `search`: server-side pagination, sorting and filtering, with rows
 * updated in place as the server pushes changes. A row showing an optimistic write the server
 * has not answered yet (`useMutation(stream, { optimistic: true })`) is dimmed, with a small
 * progress ring in its first cell, `aria-busy` and `data-pending="true"`. */
export function LiveTable<R extends { id: Pk } = Row>({
  stream,
  columns,
  filters,
  query,
  expand,
  include,
  defaultOrder,
  pageSize = 10,
  pageSizeOptions = [5, 10, 25, 50],
  onRowClick,
  selectedId,
  actions,
  emptyText = 'Nothing here yet.',
  highlightChanges = true,
  'aria-label': ariaLabel,
}: LiveTableProps<R>) {
  const [order, setOrder] = useState<string | undefined>(defaultOrder);
  const [page, setPage] = useState(1);
  const [limit, setLimit] = useState(pageSize);
  const filterKey = JSON.stringify([filters ?? {}, query ?? '']);
  const relationKey = JSON.stringify([expand ?? null, include ?? null]);
  const lastFilterKey = useRef(filterKey);
  // New filters start from the first page, in the same render.
  let currentPage = page;
  if (lastFilterKey.current !== filterKey) {
    lastFilterKey.current = filterKey;
    if (page !== 1) {
      currentPage = 1;
      setPage(1);
    }
  }
  const params = useMemo(
    () => ({
      page: currentPage,
      limit,
      order,
      filters: filters ?? {},
      ...(query ? { query } : {}),
      ...(expand === undefined ? {} : { expand }),
      ...(include === undefined ? {} : { include }),
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [currentPage, limit, order, filterKey, relationKey],
  );
  const result = useSearch<R>(stream, params);
  const rows = result.data?.rows ?? [];
  const count = result.data?.count ?? 0;

  // A page past the end (rows deleted under us): step back.
  useEffect(() => {
    if (result.data && !result.isPlaceholder && rows.length === 0 && count > 0 && currentPage > 1) {
      setPage(Math.max(1, Math.ceil(count / limit)));
    }
  }, [result.data, result.isPlaceholder, rows.length, count, currentPage, limit]);

  const changed = useChangedRows(rows, highlightChanges && !result.isPlaceholder);
  const sortField = order?.replace(/^-/, '');
  const descending = order?.startsWith('-') ?? false;

  return (
    <Box>
      <Box sx={{ height: 4 }}>{result.loading || result.stale ? <LinearProgress aria-label="loading" /> : null}</Box>
      {result.error ? (
        <Alert severity="error" role="alert" sx={{ my: 1 }}>
          {describeError(result.error.code, result.error.message)}
        </Alert>
      ) : null}
      {result.stale ? (
        <Alert severity="warning" sx={{ my: 1 }}>
          Connection lost: showing the last rows received; they will refresh on reconnect.
        </Alert>
      ) : null}
      <TableContainer>
        <Table size="small" aria-label={ariaLabel ?? stream} data-stream={stream} data-count={count}>
          <TableHead>
            <TableRow>
              {columns.map((c) => (
                <TableCell key={c.field} align={c.align} sx={{ width: c.width, fontWeight: 600 }}>
                  {c.sortable === false ? (
                    c.label ?? c.field
                  ) : (
                    <TableSortLabel
                      active={sortField === c.field}
                      direction={sortField === c.field && descending ? 'desc' : 'asc'}
                      onClick={() => {
                        setOrder(sortField === c.field && !descending ? `-${c.field}` : c.field);
                        setPage(1);
                      }}
                    >
                      {c.label ?? c.field}
                    </TableSortLabel>
                  )}
                </TableCell>
              ))}
              {actions ? <TableCell /> : null}
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.map((row) => {
              const pending = result.pending.has(row.id);
              return (
                <TableRow
                  key={String(row.id)}
                  data-row-id={String(row.id)}
                  data-pending={pending ? 'true' : undefined}
                  aria-busy={pending || undefined}
                  hover={Boolean(onRowClick)}
                  selected={selectedId != null && selectedId === row.id}
                  onClick={onRowClick ? () => onRowClick(row) : undefined}
                  sx={{
                    cursor: onRowClick ? 'pointer' : undefined,
                    opacity: pending ? 0.55 : undefined,
                    transition: 'opacity 120ms',
                    animation: changed.has(row.id) && !pending ? `${flash} 1.2s ease-out` : undefined,
                  }}
                >
                  {columns.map((c, i) => (
                    <TableCell key={c.field} align={c.align}>
                      {c.render ? c.render(row) : formatCell((row as Record<string, unknown>)[c.field])}
                      {pending && i === 0 ? <CircularProgress size={10} sx={{ ml: 0.75 }} aria-label="saving" /> : null}
                    </TableCell>
                  ))}
                  {actions ? (
                    <TableCell align="right" onClick={(e) => e.stopPropagation()}>
                      {actions(row)}
                    </TableCell>
                  ) : null}
                </TableRow>
              );
            })}
            {rows.length === 0 && !result.loading && !result.error ? (
              <TableRow>
                <TableCell colSpan={columns.length + (actions ? 1 : 0)} sx={{ color: 'text.secondary' }}>
                  {emptyText}
                </TableCell>
              </TableRow>
            ) : null}
          </TableBody>
        </Table>
      </TableContainer>
      <TablePagination
        component="div"
        count={count}
        page={Math.max(0, currentPage - 1)}
        rowsPerPage={limit}
        rowsPerPageOptions={pageSizeOptions}
        onPageChange={(_, p) => setPage(p + 1)}
        onRowsPerPageChange={(e) => {
          setLimit(Number(e.target.value));
          setPage(1);
        }}
      />
    </Box>
  );
}

/** The ids of rows that arrived or changed since the previous render's rows. */
function useChangedRows<R extends { id: Pk }>(rows: R[], enabled: boolean): Set<Pk> {
  const previous = useRef<Map<Pk, string> | undefined>(undefined);
  return useMemo(() => {
    const next = new Map(rows.map((r) => [r.id, JSON.stringify(r)] as const));
    const changed = new Set<Pk>();
    if (enabled && previous.current) {
      for (const [id, json] of next) if (previous.current.get(id) !== json) changed.add(id);
    }
    if (enabled) previous.current = next;
    return changed;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [rows, enabled]);
}

function formatCell(value: unknown): ReactNode {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
