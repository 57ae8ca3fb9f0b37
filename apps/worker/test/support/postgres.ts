/**
 * A real local PostgreSQL for tests: starts the Debian cluster if it is stopped, makes a
 * login role once, and creates a fresh database per test file (dropped at the end).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

const ROLE = "canvascast_test";
const PASSWORD = "canvascast_test";

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function asPostgres(sql: string): string {
  return sh("runuser", ["-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-tAc", sql]);
}

export function postgresAvailable(): boolean {
  try {
    sh("which", ["pg_ctlcluster"]);
    return true;
  } catch {
    return false;
  }
}

let started = false;
function ensureCluster(): void {
  if (started) return;
  const status = sh("pg_lsclusters", ["-h"]);
  const line = status.split("\n").find((l) => l.trim().length > 0);
  if (!line) throw new Error("no PostgreSQL cluster installed");
  const [version, name, , state] = line.trim().split(/\s+/);
  if (state !== "online") sh("pg_ctlcluster", [version!, name!, "start"]);
  if (asPostgres(`select 1 from pg_roles where rolname = '${ROLE}'`).trim() !== "1") {
    try {
      asPostgres(`create role ${ROLE} login superuser password '${PASSWORD}'`);
    } catch (e) {
      if (!String((e as { stderr?: string }).stderr ?? e).includes("already exists")) throw e;
    }
  }
  started = true;
}

export function clusterPort(): number {
  const line = sh("pg_lsclusters", ["-h"]).split("\n").find((l) => l.trim().length > 0)!;
  return Number(line.trim().split(/\s+/)[2]);
}

/** Create a fresh database; returns its URL and a drop() to call when done. */
export function createTestDatabase(prefix = "cc_test"): { url: string; drop: () => void } {
  ensureCluster();
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
  asPostgres(`create database ${name} owner ${ROLE}`);
  const url = `postgres://${ROLE}:${PASSWORD}@127.0.0.1:${clusterPort()}/${name}`;
  return {
    url,
    drop: () => {
      try {
        asPostgres(`drop database if exists ${name} with (force)`);
      } catch {
        /* best effort */
      }
    },
  };
}
