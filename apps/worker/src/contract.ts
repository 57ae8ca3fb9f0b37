// The shared contract (generated from modal_functions/contract by `make types`), types only.
export type * from "../../../packages/shared-types/src/contract.ts";
