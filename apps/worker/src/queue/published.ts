/**
 * SQL: the render row `alias` has its video published (its publish step succeeded). Such a
 * render is done but for recording it: a failure after the publish (the completing statement
 * lost to a database blip, a lease that lapsed before it) must not spend its last attempt.
 * It is never declared dead, and is claimed again past max_attempts to be completed (its
 * steps are all reused; only its URLs are signed again).
 */
export function published(alias: string): string {
  // `offset 0` keeps it a lookup of this row's step by the primary key: under an OR Postgres
  // would otherwise hash every published step of every render ever made, once per claim.
  return `exists (select 1 from public.render_steps ps
                   where ps.render_id = ${alias}.id and ps.step = 'publish' and ps.status = 'succeeded' offset 0)`;
}
