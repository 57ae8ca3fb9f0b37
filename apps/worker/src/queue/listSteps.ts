import type { Db } from "../db/db.ts";
import type { StepRow } from "./types.ts";

export async function listSteps(db: Pick<Db, "query">, renderId: string): Promise<StepRow[]> {
  return db.query<StepRow>(
    `select * from public.render_steps where render_id = $1
      order by array_position(array['images','align','render','publish'], step)`,
    [renderId],
  );
}
