import { useConnection } from '@chanbind/react';
import Chip from '@mui/material/Chip';
import Tooltip from '@mui/material/Tooltip';

const LABELS = {
  idle: 'not connected',
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  closed: 'disconnected',
} as const;

/** The connection's state as a chip: green when live, amber while reconnecting, with the
 * last connection error as its tooltip. */
export function ConnectionChip() {
  const { state, lastError } = useConnection();
  const color = state === 'open' ? 'success' : state === 'reconnecting' || state === 'connecting' ? 'warning' : 'default';
  const chip = <Chip size="small" color={color} label={LABELS[state]} data-state={state} aria-label={`connection: ${LABELS[state]}`} />;
  return lastError && state !== 'open' ? (
    <Tooltip title={lastError.message}>
      <span>{chip}</span>
    </Tooltip>
  ) : (
    chip
  );
}
