export * from "./errors.ts";
export { ComputeClient, type BackendConfig, type BackendName, type ClientDeps, type SubmitTrace } from "./modal-client.ts";
export { DEFAULT_POLICY, type PolicyOptions } from "./policies.ts";
