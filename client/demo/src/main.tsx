import { createClient } from '@chanbind/client';
import { ChanbindProvider } from '@chanbind/react';
import CssBaseline from '@mui/material/CssBaseline';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { readToken } from './token.js';

// The server is the page's own host unless `?server=ws://host:port/` says otherwise (for
// `npm run dev`, where vite serves the page on another port).
const server = new URLSearchParams(location.search).get('server') ?? undefined;
const client = createClient({ url: server, token: readToken });
(window as unknown as { chanbind: typeof client }).chanbind = client;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ChanbindProvider client={client}>
      <CssBaseline />
      <App />
    </ChanbindProvider>
  </StrictMode>,
);
