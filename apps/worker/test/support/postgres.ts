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

let started = false;
/**
 * Start the cluster and make the role, once per machine. Test files run as parallel
 * processes and a fresh machine (CI) has the cluster stopped and no role: two concurrent
 * `pg_ctlcluster start`s race on postmaster.pid (the loser fails) and two CREATE ROLEs race
 * on pg_authid's unique index. So the check-and-act runs under one flock(1) across
 * processes; a waiter gets the lock after the winner's start has returned (pg_ctl waits
 * until the server accepts connections), sees it online and the role made, and does nothing.
 * `--close` keeps the lock out of the postmaster, which would otherwise hold it for ever.
 */
function ensureCluster(): void {
  if (started) return;
  const script = `
    set -e
    set -- $(pg_lsclusters -h | awk 'NF { print; exit }')
    [ -n "$1" ] || { echo "no PostgreSQL cluster installed" >&2; exit 1; }
    [ "$4" = online ] || pg_ctlcluster "$1" "$2" start
    psql() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -tAc "$1"; }
    [ "$(psql "select 1 from pg_roles where rolname = '${ROLE}'")" = 1 ] ||
      psql "create role ${ROLE} login superuser password '${PASSWORD}'"
  `;
  sh("flock", ["--close", join(tmpdir(), "canvascast-test-postgres.lock"), "sh", "-c", script]);
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
