export { abortableSleep, NoBackendError, Router, type Decision, type RouterDeps, type SubmitOptions } from "./Router.ts";
export { REASONS, type Reason } from "./reasons.ts";
export { isTooManyRequests } from "./tooManyRequests.ts";
