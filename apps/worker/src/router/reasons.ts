/** Why a step went where it went. Counted in canvascast_routing_decisions_total{reason}. */
export const REASONS = {
  /** In-house accepted it: the default. */
  inhouseFirst: "inhouse_first",
  /** In-house answered 429 capacity: spilled to Modal. */
  inhouseCapacity: "inhouse_capacity",
  /** In-house unreachable, failing or its breaker open: Modal takes every step. */
  inhouseDown: "inhouse_down",
  /** In-house full and Modal's breaker open: waited for in-house capacity (the PRD's local fallback). */
  modalBreakerOpen: "modal_breaker_open",
  /** In-house full and Modal failing: waited for in-house capacity. */
  modalFailed: "modal_failed",
  /** Both full: waited for in-house capacity. */
  modalCapacity: "modal_capacity",
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];
