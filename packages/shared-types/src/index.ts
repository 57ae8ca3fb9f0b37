// Public entry of @canvascast/shared-types. contract.ts is generated; this file only re-exports.
export * from "./contract";
