// In-process wake-ups between Store instances that share one database file: an append through one
// instance wakes the live feeds of all of them at once instead of at their next poll. Other processes
// are reached by polling (SQLite has no cross-process notification).
type Waker = () => void;

const byFile = new Map<string, Set<Waker>>();

export const localWakers = {
  add(file: string, waker: Waker): () => void {
    let set = byFile.get(file);
    if (!set) byFile.set(file, (set = new Set()));
    set.add(waker);
    return () => {
      set.delete(waker);
      if (set.size === 0) byFile.delete(file);
    };
  },
  wake(file: string): void {
    for (const w of byFile.get(file) ?? []) w();
  },
};
