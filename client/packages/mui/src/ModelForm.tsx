import type { FormSchema, Pk, Row } from '@chanbind/client';
import { useForm } from '@chanbind/react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';
import { FieldInput } from './FieldInput.js';

/** Props of {@link ModelForm}. */
export interface ModelFormProps<R> {
  /** The stream whose `form` action gives the schema. */
  stream: string;
  /** The row to edit; `null` or absent for a new one. */
  id?: Pk | null;
  /** Called after a successful save with the server's reply. */
  onSaved?: (reply: FormSchema<R> & { success: true }) => void;
  /** Shows a Cancel button that calls this. */
  onCancel?: () => void;
  title?: ReactNode;
  submitLabel?: ReactNode;
  /** Fields not to show (they keep their values). */
  exclude?: readonly string[];
  /** Per field: another label, or how a foreign key's rows are named. */
  fieldProps?: Record<string, { label?: string; getOptionLabel?: (row: Row) => string }>;
  /** After a successful create, start over with an empty form (default true). */
  resetAfterCreate?: boolean;
}

/** A form generated from the server's `form` schema: inputs by field type, required and
 * read-only marks, each field's errors under it, and errors that belong to no field above
 * the buttons. */
export function ModelForm<R = Row>({
  stream,
  id,
  onSaved,
  onCancel,
  title,
  submitLabel,
  exclude = [],
  fieldProps = {},
  resetAfterCreate,
}: ModelFormProps<R>) {
  const form = useForm<R>(stream, id ?? null, { onSuccess: onSaved, resetAfterCreate });
  const idPrefix = `${stream.replace(/\./g, '-')}-${id ?? 'new'}`;
  return (
    <Box
      component="form"
      noValidate
      aria-label={typeof title === 'string' ? title : `${stream} form`}
      onSubmit={(e: React.FormEvent) => {
        e.preventDefault();
        void form.submit();
      }}
    >
      <Stack spacing={2}>
        {title ? <Typography variant="h6">{title}</Typography> : null}
        {form.status === 'loading' ? <LinearProgress aria-label="loading the form" /> : null}
        {form.fields
          // A new row's read-only fields have nothing to show yet (the server fills them).
          .filter((f) => !exclude.includes(f.name) && !(id == null && f.read_only && f.value == null))
          .map((field) => (
            <FieldInput
              key={field.name}
              field={field}
              value={form.values[field.name]}
              onChange={(v) => form.setValue(field.name, v)}
              errors={form.errors[field.name]}
              idPrefix={idPrefix}
              label={fieldProps[field.name]?.label}
              getOptionLabel={fieldProps[field.name]?.getOptionLabel}
            />
          ))}
        {form.formError && !form.conflict ? (
          <Alert severity="error" role="alert">
            {describeError(form.formError.code, form.formError.message)}
          </Alert>
        ) : null}
        <Stack direction="row" spacing={1}>
          <Button type="submit" variant="contained" disabled={form.submitting || form.status !== 'ready'}>
            {submitLabel ?? (id == null ? 'Create' : 'Save')}
          </Button>
          <Button type="button" onClick={form.reset} disabled={!form.dirty || form.submitting}>
            Reset
          </Button>
          {onCancel ? (
            <Button type="button" onClick={onCancel}>
              Cancel
            </Button>
          ) : null}
        </Stack>
        {form.conflict ? (
          <Alert
            severity="warning"
            role="alert"
            aria-label="conflict"
            action={
              <Button color="inherit" size="small" onClick={form.reload}>
                Load their version
              </Button>
            }
          >
            Someone else saved this first, so your edit was not saved. Load their version and edit
            again.
          </Alert>
        ) : null}
      </Stack>
    </Box>
  );
}

/** A sentence for a person, from an error code and the server's message. */
export function describeError(code: string, message: string): string {
  switch (code) {
    case 'unauthenticated':
      return 'Sign in first.';
    case 'permission_denied':
      return `You may not do this: ${message}.`;
    case 'not_found':
      return `Not found: it may have been deleted, or it is not yours (${message}).`;
    case 'connection_lost':
      return 'The connection dropped before the server answered; check the data and try again.';
    case 'timeout':
      return 'The server did not answer in time; try again.';
    case 'unavailable':
      return 'The database is unavailable; try again in a moment.';
    default:
      return message;
  }
}
