import type { FormField, Row } from '@chanbind/client';
import Checkbox from '@mui/material/Checkbox';
import FormControl from '@mui/material/FormControl';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormHelperText from '@mui/material/FormHelperText';
import MenuItem from '@mui/material/MenuItem';
import TextField from '@mui/material/TextField';
import { useEffect, useState } from 'react';
import { ForeignKeyField } from './ForeignKeyField.js';

/** Props of {@link FieldInput}. */
export interface FieldInputProps {
  field: FormField;
  value: unknown;
  onChange: (value: unknown) => void;
  /** The field's messages from the last submit. */
  errors?: readonly string[];
  /** Prefix of the input's DOM id (default `chanbind`). */
  idPrefix?: string;
  /** For a foreign key: how a row of the referenced stream is named. */
  getOptionLabel?: (row: Row) => string;
  label?: string;
}

/** The input for one field of a `form` schema, chosen by its type: text, number, checkbox,
 * date, date and time, select (`choices`), JSON, or an autocomplete for a foreign key.
 * Required fields are marked, read-only ones disabled, and the field's errors shown under it
 * (its `help_text` otherwise). */
export function FieldInput({ field, value, onChange, errors = [], idPrefix = 'chanbind', getOptionLabel, label }: FieldInputProps) {
  const id = `${idPrefix}-${field.name}`;
  const hasError = errors.length > 0;
  const helperText = hasError ? errors.join(' ') : field.help_text;
  const common = {
    id,
    label: label ?? field.label,
    required: field.required,
    disabled: field.read_only,
    error: hasError,
    helperText,
    fullWidth: true,
    size: 'small' as const,
  };

  switch (field.type) {
    case 'boolean':
      return (
        <FormControl error={hasError} disabled={field.read_only} fullWidth>
          <FormControlLabel
            control={<Checkbox id={id} checked={value === true} onChange={(e) => onChange(e.target.checked)} />}
            label={`${label ?? field.label}${field.required ? ' *' : ''}`}
          />
          {helperText ? <FormHelperText>{helperText}</FormHelperText> : null}
        </FormControl>
      );
    case 'foreign_key':
      return (
        <ForeignKeyField
          id={id}
          stream={field.stream ?? ''}
          value={value as never}
          onChange={onChange}
          label={label ?? field.label}
          required={field.required}
          disabled={field.read_only}
          error={hasError}
          helperText={helperText}
          getOptionLabel={getOptionLabel}
        />
      );
    case 'choice':
      return (
        <TextField {...common} select value={value == null ? '' : String(value)} onChange={(e) => onChange(choiceValue(field, e.target.value))}>
          {field.required ? null : (
            <MenuItem value="">
              <em>none</em>
            </MenuItem>
          )}
          {(field.choices ?? []).map(([v, text]) => (
            <MenuItem key={String(v)} value={String(v)}>
              {text}
            </MenuItem>
          ))}
        </TextField>
      );
    case 'integer':
    case 'float':
    case 'decimal':
      return <NumberInput {...common} field={field} value={value} onChange={onChange} />;
    case 'text':
      return <TextField {...common} multiline minRows={3} value={value ?? ''} onChange={(e) => onChange(emptyToNull(field, e.target.value))} />;
    case 'json':
    case 'array':
      return <JsonInput {...common} value={value} onChange={onChange} />;
    case 'date':
      return (
        <TextField
          {...common}
          type="date"
          value={typeof value === 'string' ? value.slice(0, 10) : ''}
          onChange={(e) => onChange(e.target.value || null)}
          slotProps={{ inputLabel: { shrink: true } }}
        />
      );
    case 'datetime':
      if (field.read_only) {
        return <TextField {...common} value={typeof value === 'string' ? new Date(value).toLocaleString() : ''} />;
      }
      return (
        <TextField
          {...common}
          type="datetime-local"
          value={typeof value === 'string' ? toLocalInput(value) : ''}
          onChange={(e) => onChange(e.target.value ? new Date(e.target.value).toISOString() : null)}
          slotProps={{ inputLabel: { shrink: true } }}
        />
      );
    case 'datetime_local':
      // No time zone on either side: the input's text is the value, seconds included.
      return (
        <TextField
          {...common}
          type="datetime-local"
          value={typeof value === 'string' ? value.slice(0, 19) : ''}
          onChange={(e) => onChange(e.target.value || null)}
          slotProps={{ inputLabel: { shrink: true }, htmlInput: { step: 1 } }}
        />
      );
    default:
      return (
        <TextField
          {...common}
          type={field.type === 'email' ? 'email' : 'text'}
          value={value ?? ''}
          onChange={(e) => onChange(emptyToNull(field, e.target.value))}
          slotProps={{ htmlInput: field.max_length ? { maxLength: field.max_length } : {} }}
        />
      );
  }
}

type CommonProps = {
  id: string;
  label: string;
  required: boolean;
  disabled: boolean;
  error: boolean;
  helperText: React.ReactNode;
  fullWidth: boolean;
  size: 'small';
};

/** A number kept as text while typed, so `-` or `1.` can be typed; sent as a number when it
 * is one (decimals stay strings, as the protocol sends them), as typed otherwise so the
 * server's message explains. */
function NumberInput({ field, value, onChange, ...common }: CommonProps & { field: FormField; value: unknown; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(value == null ? '' : String(value));
  useEffect(() => {
    setText((current) => (parseNumber(field, current) === value ? current : value == null ? '' : String(value)));
  }, [value, field]);
  return (
    <TextField
      {...common}
      type="number"
      value={text}
      onChange={(e) => {
        setText(e.target.value);
        onChange(parseNumber(field, e.target.value));
      }}
      slotProps={{ htmlInput: { min: field.min, max: field.max, step: field.type === 'integer' ? 1 : 'any' } }}
    />
  );
}

function parseNumber(field: FormField, text: string): unknown {
  const t = text.trim();
  if (t === '') return null;
  if (field.type === 'decimal') return t;
  const n = Number(t);
  if (!Number.isFinite(n)) return t;
  if (field.type === 'integer' && !Number.isInteger(n)) return t;
  return n;
}

function JsonInput({ value, onChange, ...common }: CommonProps & { value: unknown; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(value === null || value === undefined ? '' : JSON.stringify(value, null, 2));
  const [bad, setBad] = useState(false);
  return (
    <TextField
      {...common}
      multiline
      minRows={3}
      value={text}
      error={common.error || bad}
      helperText={bad && !common.error ? 'not valid JSON' : common.helperText}
      onChange={(e) => {
        setText(e.target.value);
        if (e.target.value.trim() === '') {
          setBad(false);
          onChange(null);
          return;
        }
        try {
          onChange(JSON.parse(e.target.value));
          setBad(false);
        } catch {
          setBad(true);
        }
      }}
    />
  );
}

function choiceValue(field: FormField, text: string): unknown {
  if (text === '') return null;
  const match = (field.choices ?? []).find(([v]) => String(v) === text);
  return match ? match[0] : text;
}

function emptyToNull(field: FormField, text: string): unknown {
  return text === '' && !field.required ? null : text;
}

function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
