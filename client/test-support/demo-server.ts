// Starts the real Rust demo server for the tests: `target/release/demo` (built by test.sh, or
// by `cargo build --release -p chanbind-examples --bin demo`; CHANBIND_DEMO_BIN overrides).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

/** The demo binary the tests run. */
export function demoBinary(): string {
  if (process.env.CHANBIND_DEMO_BIN) return process.env.CHANBIND_DEMO_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target');
  return path.join(target, 'release', 'demo');
}

/** The demo's tokens in the tests' policy server. */
export const TOKENS = { admin: 's3', alice: 'a1', bob: 'b2' } as const;

export interface DemoOptions {
  /** `NAME:SECRET` pairs; any turns the demo's permission policy on. */
  tokens?: Record<string, string>;
  noAnonymous?: boolean;
  /** Listen on this port (default: a free one, picked by the server). */
  port?: number;
  extraArgs?: string[];
}

/** A running demo server. */
export class DemoServer {
  private child: ChildProcess | undefined;
  private log = '';
  port = 0;

  constructor(private readonly options: DemoOptions = {}) {}

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** What the server printed so far. */
  get output(): string {
    return this.log;
  }

  /** Starts the server and resolves once it listens. */
  async start(): Promise<this> {
    const bin = demoBinary();
    if (!existsSync(bin)) {
      throw new Error(`no demo binary at ${bin}: run \`cargo build --release -p chanbind-examples --bin demo\` (client/test.sh does)`);
    }
    const args = ['--listen', `127.0.0.1:${this.options.port ?? this.port}`];
    for (const [name, secret] of Object.entries(this.options.tokens ?? {})) args.push('--token', `${name}:${secret}`);
    if (this.options.noAnonymous) args.push('--no-anonymous');
    // The tests' pages come from a static server on another port: a cross-origin page, which
    // the demo refuses unless told (tokens and anonymous only; never the cookie).
    args.push('--allow-origin', '*');
    args.push(...(this.options.extraArgs ?? []));
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG ?? 'info' };
    delete env.DATABASE_URL; // the in-memory store: each server starts from the seed
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.log = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not start within 20 s:\n${this.log}`)), 20_000);
      const onData = (chunk: Buffer) => {
        this.log += chunk.toString();
        // eslint-disable-next-line no-control-regex
        const m = /listening on .*?ws:\/\/[^:\s]+:(\d+)\//.exec(this.log.replace(/\x1b\[[0-9;]*m/g, ''));
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the demo exited with ${code} before listening:\n${this.log}`));
      });
    });
    this.port = port;
    return this;
  }

  /** Stops the server (SIGINT: a graceful shutdown, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGINT');
    });
  }

  /** Kills the server at once (no close frames): a crash, as the clients see it. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Stops the server and starts it again on the same port (the in-memory store starts over
   * from the seed). */
  async restart(options: { kill?: boolean; pauseMs?: number } = {}): Promise<void> {
    const port = this.port;
    if (options.kill) await this.kill();
    else await this.stop();
    if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    (this.options as DemoOptions).port = port;
    await this.start();
  }
}

/** Starts a demo server. */
export function startDemo(options: DemoOptions = {}): Promise<DemoServer> {
  return new DemoServer(options).start();
}

/** Waits until `check` returns a truthy value (polling every 20 ms), or throws after `ms`. */
export async function waitFor<T>(check: () => T | Promise<T>, ms = 5_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
