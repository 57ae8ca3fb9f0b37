import assert from "node:assert/strict";
import { test } from "node:test";
import { inBusinessHours, parseBusinessHours } from "./businessHours.ts";

test("weekdays 08:00-20:00 UTC", () => {
  const bh = parseBusinessHours("1-5", "08:00-20:00", "UTC");
  assert.equal(inBusinessHours(new Date("2026-11-23T07:59:00Z"), bh), false); // Monday
  assert.equal(inBusinessHours(new Date("2026-11-23T08:00:00Z"), bh), true);
  assert.equal(inBusinessHours(new Date("2026-11-23T19:59:00Z"), bh), true);
  assert.equal(inBusinessHours(new Date("2026-11-23T20:00:00Z"), bh), false);
  assert.equal(inBusinessHours(new Date("2026-11-22T12:00:00Z"), bh), false); // Sunday
});

test("time zones shift the window", () => {
  const bh = parseBusinessHours("1-5", "09:00-17:00", "America/New_York");
  assert.equal(inBusinessHours(new Date("2026-11-23T13:30:00Z"), bh), false); // 08:30 EST
  assert.equal(inBusinessHours(new Date("2026-11-23T14:30:00Z"), bh), true); // 09:30 EST
});

test("a window can wrap midnight", () => {
  const bh = parseBusinessHours("5", "22:00-02:00", "UTC"); // Friday night
  assert.equal(inBusinessHours(new Date("2026-11-27T23:00:00Z"), bh), true); // Fri 23:00
  assert.equal(inBusinessHours(new Date("2026-11-28T01:00:00Z"), bh), true); // Sat 01:00 belongs to Friday
  assert.equal(inBusinessHours(new Date("2026-11-28T03:00:00Z"), bh), false);
});

test("bad settings are errors", () => {
  assert.throws(() => parseBusinessHours("8", "08:00-20:00"));
  assert.throws(() => parseBusinessHours("1-5", "8-20"));
  assert.throws(() => parseBusinessHours("1-5", "08:00-20:00", "Mars/Olympus"));
  assert.throws(() => parseBusinessHours("1-5", "20:00-08:00-09:00"), /HH:MM-HH:MM/); // a third part was ignored
  assert.throws(() => parseBusinessHours("1-5", "08:00-08:00"), /empty/); // was a window that never opens
});
