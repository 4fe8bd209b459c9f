import Button from '@mui/material/Button';
import TextField from '@mui/material/TextField';
import { useRef, useState, type ReactNode } from 'react';

/** Props of {@link InlineEdit}. */
export interface InlineEditProps {
  /** The value shown, as the server (or a pending optimistic write) has it. */
  value: string | number;
  type?: 'text' | 'number';
  /** Names the button that opens the editor, and the editor. */
  label: string;
  /** What the button shows (default: the value). */
  children?: ReactNode;
  /** Called with the new value on Enter or when the field loses focus (not when unchanged). */
  onCommit: (value: string | number) => void;
}

/** A value in a table cell that turns into a field when clicked: Enter or leaving the field
 * saves, Escape cancels. The board's edits are optimistic, so the cell shows the new value at
 * once and goes back to the server's when the server refuses it. */
export function InlineEdit({ value, type = 'text', label, children, onCommit }: InlineEditProps) {
  const [draft, setDraft] = useState<string | null>(null);
  // Enter saves and closes the field, whose blur must not save a second time.
  const open = useRef(false);
  if (draft === null) {
    return (
      <Button
        size="small"
        variant="text"
        aria-label={label}
        sx={{ minWidth: 0, textTransform: 'none', color: 'inherit', font: 'inherit', justifyContent: 'flex-start', px: 0.5 }}
        onClick={(e) => {
          e.stopPropagation();
          open.current = true;
          setDraft(String(value));
        }}
      >
        {children ?? String(value)}
      </Button>
    );
  }
  const close = () => {
    open.current = false;
    setDraft(null);
  };
  const commit = () => {
    if (!open.current) return;
    close();
    const next = type === 'number' ? Number(draft) : draft;
    if (next !== value && !(type === 'number' && Number.isNaN(next))) onCommit(next);
  };
  return (
    <TextField
      size="small"
      type={type}
      value={draft}
      autoFocus
      slotProps={{ htmlInput: { 'aria-label': label } }}
      sx={{ width: type === 'number' ? 80 : '100%' }}
      onClick={(e) => e.stopPropagation()}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit();
        if (e.key === 'Escape') close();
      }}
    />
  );
}
