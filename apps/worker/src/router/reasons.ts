/** Why a step went where it went. Counted in canvascast_routing_decisions_total{reason}. */
export const REASONS = {
  /** In-house accepted it: the default. */
  inhouseFirst: "inhouse_first",
  /** In-house answered 429 capacity: spilled to Modal. */
  inhouseCapacity: "inhouse_capacity",
  /** In-house unreachable, failing or its breaker open: Modal takes every step. */
  inhouseDown: "inhouse_down",
  /** In-house refused us for its own setup (401/403/404/405, unknown_kind): Modal took it. */
  inhouseRejected: "inhouse_rejected",
  /** In-house full (or down) and Modal's breaker open, or no Modal configured: waited for in-house (the PRD's local fallback). */
  modalBreakerOpen: "modal_breaker_open",
  /** In-house full (or down) and Modal failing: waited for in-house. */
  modalFailed: "modal_failed",
  /** Both full (or in-house down and Modal full): waited for in-house. */
  modalCapacity: "modal_capacity",
  /** In-house full (or down) and Modal refused us for its own setup (401/403/404/405): waited for in-house. */
  modalRejected: "modal_rejected",
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];
