// The signed-in token lives in localStorage, so a reload keeps the user signed in; the client
// asks `readToken` again on every reconnect.

const KEY = 'chanbind.demo.token';

export function readToken(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function writeToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    // private mode: the token lasts until the page closes
  }
}
