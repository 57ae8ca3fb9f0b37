/**
 * A real local PostgreSQL for tests: starts the Debian cluster if it is stopped, makes a
 * login role once, and creates a fresh database per test file (dropped at the end).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";

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

/** The first cluster pg_lsclusters lists: [version, name, port, status, ...]. */
function cluster(): string[] {
  const line = sh("pg_lsclusters", ["-h"]).split("\n").find((l) => l.trim().length > 0);
  if (!line) throw new Error("no PostgreSQL cluster installed");
  return line.trim().split(/\s+/);
}

let started = false;
/**
 * Start the cluster and make the role, once per machine. Test files run as parallel
 * processes, and a fresh machine (CI) has the cluster stopped and no role:
 * - two concurrent `pg_ctlcluster start`s race on postmaster.pid (the loser fails), so the
 *   start runs under one flock(1) across processes; a later one finds the cluster running
 *   (pg_ctl returns once the server accepts connections) and fails harmlessly. `--close`
 *   keeps the lock out of the postmaster, which would otherwise hold it for ever;
 * - two CREATE ROLEs race on pg_authid's unique index, so the statement takes either outcome.
 */
function ensureCluster(): void {
  if (started) return;
  const [version, name, , state] = cluster();
  if (state !== "online") {
    try {
      sh("flock", ["--close", join(tmpdir(), "canvascast-test-postgres.lock"), "pg_ctlcluster", version!, name!, "start"]);
    } catch (e) {
      if (cluster()[3] !== "online") throw e;
    }
  }
  asPostgres(`do $$ begin create role ${ROLE} login superuser password '${PASSWORD}';
    exception when duplicate_object or unique_violation then null; end $$`);
  started = true;
}

export function clusterPort(): number {
  return Number(cluster()[2]);
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
