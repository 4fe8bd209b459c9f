import { useConnection } from '@chanbind/react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { readToken, writeToken } from './token.js';

/** Signs in with one of the tokens the demo was started with (`--token alice:a1` means the
 * token `a1` signs in as alice). */
export function SignIn() {
  const { user, reconnect, state } = useConnection();
  const [token, setToken] = useState('');
  const saved = readToken();
  const signIn = (value: string | null) => {
    writeToken(value);
    setToken('');
    reconnect();
  };

  if (user) {
    return (
      <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
        <Typography variant="body2" data-testid="signed-in">
          Signed in as <strong>{user.name}</strong>
        </Typography>
        <Button size="small" color="inherit" variant="outlined" onClick={() => signIn(null)}>
          Sign out
        </Button>
      </Stack>
    );
  }
  return (
    <Box
      component="form"
      aria-label="sign in"
      onSubmit={(e: React.FormEvent) => {
        e.preventDefault();
        if (token.trim()) signIn(token.trim());
      }}
    >
      <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
        {saved && state === 'open' ? (
          <Alert severity="warning" sx={{ py: 0 }} action={<Button size="small" onClick={() => signIn(null)}>Forget it</Button>}>
            That token was not recognised
          </Alert>
        ) : null}
        <TextField
          size="small"
          label="Token"
          type="password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          sx={{ bgcolor: 'background.paper', borderRadius: 1, width: 130 }}
          slotProps={{ htmlInput: { 'aria-label': 'Token', autoComplete: 'off' } }}
        />
        <Button type="submit" variant="contained" color="secondary" disabled={!token.trim()}>
          Sign in
        </Button>
      </Stack>
    </Box>
  );
}
