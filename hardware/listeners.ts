/**
 * Listeners with unsubscribe, shared by the drivers. With `onError`, a listener that throws is
 * reported and the others still run (needed where the emit happens inside a client library's
 * packet handling); without it the error reaches the caller.
 */
export function listeners<T extends unknown[]>(onError?: (err: unknown) => void) {
  const set = new Set<(...args: T) => void>();
  return {
    add(fn: (...args: T) => void) {
      set.add(fn);
      return () => void set.delete(fn);
    },
    emit(...args: T) {
      for (const fn of [...set]) {
        if (!onError) {
          fn(...args);
          continue;
        }
        try {
          fn(...args);
        } catch (err) {
          onError(err);
        }
      }
    },
    clear: () => set.clear(),
  };
}
