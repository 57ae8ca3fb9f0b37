/**
 * HMAC-signed, expiring read URLs, byte-for-byte the scheme of modal_functions/storage/signing.py:
 *   sig = hex(HMAC-SHA256(secret, "GET\n" + key + "\n" + exp)),
 *   url = base_url + "/v1/artifacts/" + key + "?exp=" + exp + "&sig=" + sig
 * Checked against packages/shared-types/vectors/url-signatures.json.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { parseKey } from "./keys.ts";

export const canonicalString = (key: string, exp: number): string => `GET\n${key}\n${exp}`;

export function sign(secret: string, key: string, exp: number): string {
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(canonicalString(key, exp), "utf8").digest("hex");
}

export function signedUrl(baseUrl: string, secret: string, key: string, exp: number): string {
  parseKey(key);
  return `${baseUrl.replace(/\/+$/, "")}/v1/artifacts/${key}?exp=${exp}&sig=${sign(secret, key, exp)}`;
}

export type VerifyResult = "ok" | "bad_signature" | "signature_expired" | "invalid_key";

export function verify(secret: string, key: string, exp: string | number | null | undefined, sig: string | null | undefined, nowSeconds: number): VerifyResult {
  try {
    parseKey(key);
  } catch {
    return "invalid_key";
  }
  const expS = exp === null || exp === undefined ? "" : String(exp);
  const sigS = sig ?? "";
  if (!/^[0-9]{1,12}$/.test(expS) || !/^[0-9a-f]{64}$/.test(sigS)) return "bad_signature";
  const expected = Buffer.from(sign(secret, key, Number(expS)), "utf8");
  if (!timingSafeEqual(expected, Buffer.from(sigS, "utf8"))) return "bad_signature";
  return Number(expS) <= nowSeconds ? "signature_expired" : "ok";
}
