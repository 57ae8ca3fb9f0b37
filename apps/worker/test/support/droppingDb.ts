/** A database whose connection drops on cue, for the worker's blip tests. */
import type { Db } from "../../src/db/db.ts";

/**
 * `db`, except that a statement `matches` picks fails as node-postgres does when the server
 * goes away ("Connection terminated unexpectedly"), `times` times at most (default: every
 * time). `afterCommit`: the statement runs first, so only its reply is lost. `dropped()`
 * counts the failures so far.
 */
export function droppingDb(
  db: Db,
  matches: (text: string, params?: unknown[]) => boolean,
  { times = Infinity, afterCommit = false }: { times?: number; afterCommit?: boolean } = {},
): { db: Db; dropped: () => number } {
  let dropped = 0;
  const dropping = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      const drop = () => {
        if (dropped >= times || !matches(text, params)) return false;
        dropped++;
        return true;
      };
      if (!afterCommit && drop()) throw new Error("Connection terminated unexpectedly");
      const rows = await db.query(text, params);
      if (afterCommit && drop()) throw new Error("Connection terminated unexpectedly"); // committed; the reply never came
      return rows;
    },
  });
  return { db: dropping, dropped: () => dropped };
}
