import { ChanbindClient, type ClientOptions } from '@chanbind/client';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { sharedLives, type SharedLives } from './shared.js';

interface ContextValue {
  client: ChanbindClient;
  lives: SharedLives;
}

const ChanbindContext = createContext<ContextValue | null>(null);

/** The provider's props: a client you made, or the options of one it makes, connects on mount
 * and closes on unmount. */
export interface ChanbindProviderProps {
  client?: ChanbindClient;
  options?: ClientOptions;
  /** How long an unused shared live object stays subscribed, in ms (default 500). */
  releaseDelay?: number;
  children?: ReactNode;
}

/** Makes a chanbind client available to the hooks below it. */
export function ChanbindProvider({ client, options, releaseDelay, children }: ChanbindProviderProps) {
  const [owned] = useState(() => (client ? null : new ChanbindClient({ ...options, autoConnect: false })));
  const active = client ?? owned!;
  useEffect(() => {
    if (!owned) return undefined;
    owned.connect();
    return () => owned.close();
  }, [owned]);
  const value = useMemo(() => ({ client: active, lives: sharedLives(active, releaseDelay) }), [active, releaseDelay]);
  return <ChanbindContext.Provider value={value}>{children}</ChanbindContext.Provider>;
}

function useContextValue(): ContextValue {
  const value = useContext(ChanbindContext);
  if (!value) throw new Error('chanbind: this hook must be used inside <ChanbindProvider>');
  return value;
}

/** The client of the nearest provider. */
export function useClient(): ChanbindClient {
  return useContextValue().client;
}

/** The shared live objects of the nearest provider's client. */
export function useSharedLives(): SharedLives {
  return useContextValue().lives;
}
