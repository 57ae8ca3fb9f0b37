/**
 * Runs a render whose video is published gets past max_attempts, to record its success: enough
 * to outlast a blip, few enough that a failure which repeats after the publish (its object gone
 * so signing fails, a completion the database keeps refusing) ends it dead, its files removed.
 */
export const PUBLISHED_EXTRA_ATTEMPTS = 3;

/**
 * SQL: the render row `alias` has its video published (its publish step succeeded). Such a
 * render is done but for recording it: a failure after the publish (the completing statement
 * lost to a database blip, a lease that lapsed before it) must not spend its last attempt.
 * It is claimed again past max_attempts to be completed (its steps are all reused; only its
 * URLs are signed again), up to PUBLISHED_EXTRA_ATTEMPTS more (`mayRunAgain`).
 */
export function published(alias: string): string {
  // `offset 0` keeps it a lookup of this row's step by the primary key: under an OR Postgres
  // would otherwise hash every published step of every render ever made, once per claim.
  return `exists (select 1 from public.render_steps ps
                   where ps.render_id = ${alias}.id and ps.step = 'publish' and ps.status = 'succeeded' offset 0)`;
}

/**
 * SQL: the render row `alias` has an attempt left: under max_attempts, or, with its video
 * published, under max_attempts + PUBLISHED_EXTRA_ATTEMPTS. Every run counts an attempt, so
 * the backoff between those extra runs keeps growing too. Without it, a render is dead.
 */
export function mayRunAgain(alias: string): string {
  return `(${alias}.attempts < ${alias}.max_attempts
           or (${alias}.attempts < ${alias}.max_attempts + ${PUBLISHED_EXTRA_ATTEMPTS} and ${published(alias)}))`;
}
