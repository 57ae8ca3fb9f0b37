export * from "./errors.ts";
export { ComputeClient, type BackendConfig, type BackendName, type ClientDeps } from "./modal-client.ts";
export { DEFAULT_POLICY, type PolicyOptions } from "./policies.ts";
