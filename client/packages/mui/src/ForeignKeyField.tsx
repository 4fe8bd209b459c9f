import { ChanbindError, type Pk, type Row } from '@chanbind/client';
import { useClient, useRetrieve } from '@chanbind/react';
import Autocomplete from '@mui/material/Autocomplete';
import CircularProgress from '@mui/material/CircularProgress';
import TextField from '@mui/material/TextField';
import { useEffect, useMemo, useState } from 'react';
import { rowLabel } from './labels.js';

/** Props of {@link ForeignKeyField}. */
export interface ForeignKeyFieldProps {
  /** The referenced stream (the form field's `stream`). */
  stream: string;
  value: Pk | null | undefined;
  onChange: (value: Pk | null) => void;
  label?: string;
  required?: boolean;
  disabled?: boolean;
  error?: boolean;
  helperText?: React.ReactNode;
  id?: string;
  /** How a row is named (default {@link rowLabel}). */
  getOptionLabel?: (row: Row) => string;
  /** How many matches to show (default 20). */
  limit?: number;
  /** Wait this long after typing before searching, in ms (default 200). */
  debounce?: number;
}

/**
 * An autocomplete over the referenced stream: typing runs a one-shot `search` with `query`
 * (the binding's search fields, `icontains`), and the current value's row is retrieved live
 * so its label follows renames.
 */
export function ForeignKeyField({
  stream,
  value,
  onChange,
  label,
  required,
  disabled,
  error,
  helperText,
  id,
  getOptionLabel = rowLabel,
  limit = 20,
  debounce = 200,
}: ForeignKeyFieldProps) {
  const client = useClient();
  const current = useRetrieve<Row>(stream, value ?? null);
  const [input, setInput] = useState('');
  const [open, setOpen] = useState(false);
  const [options, setOptions] = useState<Row[]>([]);
  const [loading, setLoading] = useState(false);
  const [searchError, setSearchError] = useState<ChanbindError | undefined>(undefined);

  const selected: Row | null = useMemo(() => {
    if (value == null) return null;
    return current.data ?? ({ id: value } as Row);
  }, [value, current.data]);

  useEffect(() => {
    if (!open) return undefined;
    let cancelled = false;
    const timer = setTimeout(() => {
      setLoading(true);
      const query = input && selected && input === getOptionLabel(selected) ? '' : input;
      client
        .model<Row>(stream)
        .search(query ? { query, limit } : { limit })
        .then(
          (page) => {
            if (cancelled) return;
            setOptions(page.rows);
            setSearchError(undefined);
          },
          (e: unknown) => {
            if (cancelled) return;
            setSearchError(e instanceof ChanbindError ? e : new ChanbindError('internal', String(e)));
            setOptions([]);
          },
        )
        .finally(() => {
          if (!cancelled) setLoading(false);
        });
    }, debounce);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [client, stream, input, open, limit, debounce, selected, getOptionLabel]);

  return (
    <Autocomplete<Row, false, false, false>
      id={id}
      open={open}
      onOpen={() => setOpen(true)}
      onClose={() => setOpen(false)}
      value={selected}
      onChange={(_, row) => onChange(row ? row.id : null)}
      inputValue={input}
      onInputChange={(_, text) => setInput(text)}
      options={selected && !options.some((o) => o.id === selected.id) ? [selected, ...options] : options}
      filterOptions={(x) => x}
      getOptionLabel={getOptionLabel}
      isOptionEqualToValue={(a, b) => a.id === b.id}
      loading={loading}
      disabled={disabled}
      noOptionsText={searchError ? searchError.message : 'No matches'}
      renderInput={(params) => (
        <TextField
          {...params}
          label={label}
          required={required}
          error={error}
          helperText={helperText}
          slotProps={{
            ...params.slotProps,
            input: {
              ...params.slotProps.input,
              endAdornment: (
                <>
                  {loading ? <CircularProgress color="inherit" size={18} /> : null}
                  {params.slotProps.input.endAdornment}
                </>
              ),
            },
          }}
        />
      )}
    />
  );
}
