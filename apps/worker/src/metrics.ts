/**
 * Prometheus metrics (prom-client), PRD §10 per backend: invocations, duration, queue time,
 * cold starts, errors and cost in USD, plus routing decisions by reason and breaker state.
 * One registry per Metrics instance so tests and several workers in one process stay apart.
 */
import client from "prom-client";
import { AUTH_ERROR_CODES } from "./http/authenticate.ts";

export class Metrics {
  readonly registry = new client.Registry();
  readonly invocations = new client.Counter({
    name: "canvascast_compute_invocations_total",
    help: "Compute jobs finished, by backend, kind and outcome.",
    labelNames: ["backend", "kind", "outcome"] as const,
    registers: [this.registry],
  });
  readonly duration = new client.Histogram({
    name: "canvascast_compute_duration_seconds",
    help: "Compute job run time (started -> finished) by backend and kind.",
    labelNames: ["backend", "kind"] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers: [this.registry],
  });
  readonly queueTime = new client.Histogram({
    name: "canvascast_compute_queue_seconds",
    help: "Time a compute job waited before it started, by backend and kind.",
    labelNames: ["backend", "kind"] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });
  readonly coldStarts = new client.Counter({
    name: "canvascast_compute_cold_starts_total",
    help: "Compute jobs that ran on a cold worker/container.",
    labelNames: ["backend", "kind"] as const,
    registers: [this.registry],
  });
  readonly errors = new client.Counter({
    name: "canvascast_compute_errors_total",
    help: "Compute errors by backend and code (job failures, HTTP errors, transport failures).",
    labelNames: ["backend", "code"] as const,
    registers: [this.registry],
  });
  readonly costUsd = new client.Counter({
    name: "canvascast_compute_cost_usd_total",
    help: "Cost of compute jobs in USD, as reported by the backend.",
    labelNames: ["backend", "kind"] as const,
    registers: [this.registry],
  });
  readonly routingDecisions = new client.Counter({
    name: "canvascast_routing_decisions_total",
    help: "Routing decisions by chosen backend and reason.",
    labelNames: ["backend", "reason"] as const,
    registers: [this.registry],
  });
  readonly backendRejections = new client.Counter({
    name: "canvascast_backend_rejections_total",
    help: "Submissions a backend refused for its own setup (401/403/404/405, unknown_kind); the router waited for the other backend.",
    labelNames: ["backend", "code"] as const,
    registers: [this.registry],
  });
  readonly breakerState = new client.Gauge({
    name: "canvascast_breaker_state",
    help: "Circuit breaker state per backend: 0 closed, 1 open, 2 half-open.",
    labelNames: ["backend"] as const,
    registers: [this.registry],
  });
  readonly breakerTransitions = new client.Counter({
    name: "canvascast_breaker_transitions_total",
    help: "Circuit breaker transitions per backend and new state.",
    labelNames: ["backend", "state"] as const,
    registers: [this.registry],
  });
  readonly retries = new client.Counter({
    name: "canvascast_client_retries_total",
    help: "HTTP retries of the compute client per backend and reason.",
    labelNames: ["backend", "reason"] as const,
    registers: [this.registry],
  });
  readonly renders = new client.Counter({
    name: "canvascast_renders_total",
    help: "Render attempts that ended, by final status of the attempt.",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  readonly stepDuration = new client.Histogram({
    name: "canvascast_render_step_seconds",
    help: "Wall time of each render step in the worker.",
    labelNames: ["step"] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900],
    registers: [this.registry],
  });

  /**
   * /v1/ requests refused by authentication, by the error code they got (unauthorized,
   * invalid_token, token_expired, auth_unavailable). Never labelled with a token or an owner:
   * the codes are the only label, so the series stay four. Event streams ended because their
   * token expired are not refusals and are not counted here.
   */
  readonly authFailures = new client.Counter({
    name: "canvascast_auth_failures_total",
    help: "API requests refused by authentication, by error code (unauthorized, invalid_token, token_expired, auth_unavailable).",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });

  constructor() {
    // Every code from the start, at 0: rate() and alerts see a series before the first failure.
    for (const code of AUTH_ERROR_CODES) this.authFailures.inc({ code }, 0);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
