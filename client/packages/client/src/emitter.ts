/** A small typed event emitter. A listener that throws does not stop the others; the error is
 * reported through `onListenerError` (by default `console.error`). */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(value: never) => void>>();

  constructor(private readonly onListenerError: (error: unknown) => void = defaultListenerError) {}

  on<K extends keyof Events>(type: K, listener: (value: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener as (value: never) => void);
    return () => {
      set.delete(listener as (value: never) => void);
    };
  }

  emit<K extends keyof Events>(type: K, value: Events[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (value: Events[K]) => void)(value);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  count<K extends keyof Events>(type: K): number {
    return this.listeners.get(type)?.size ?? 0;
  }
}

function defaultListenerError(error: unknown): void {
  console.error('chanbind: a listener threw', error);
}
