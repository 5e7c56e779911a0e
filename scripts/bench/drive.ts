/**
 * Requests without a kernel, for ./in-process.ts and ./ab.ts: real IncomingMessage and
 * ServerResponse objects (of the classes a server would build them from) on a socket that
 * discards what is written, handed to an Express app one at a time; and the app of a checkout
 * on a copy of the bench's seeded store (`loadApp`).
 */
import type { Express } from 'express';
import { mkdtempSync, rmSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { BenchRequest } from './load.ts';
import { apiRequests, type ApiTarget } from './requests.ts';
import { copyInto, type Caller } from './seed-sqlite.ts';

/** A socket that takes whatever is written and answers nothing. */
class Sink extends Duplex {
  readonly remoteAddress = '127.0.0.1';
  override _read(): void {}
  override _write(_chunk: unknown, _encoding: BufferEncoding, done: () => void): void {
    done();
  }
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
}
const socket = new Sink();

/** The classes a server builds requests and responses from: Node's for bare Express (as its
 * app.listen does), the app's for ours (as main.ts does, through http/server.ts). */
export interface Classes {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}
export const nodeClasses: Classes = { IncomingMessage, ServerResponse };

export interface Call {
  app: Express;
  classes: Classes;
  method: string;
  url: string;
  headers: [string, string][];
  body?: string;
}

/** One request through `call.app`; resolves with the status once the answer is finished. */
export function send(call: Call): Promise<number> {
  return new Promise((resolve) => {
    const req = new call.classes.IncomingMessage(socket as never);
    req.method = call.method;
    req.url = call.url;
    req.httpVersion = '1.1';
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    const raw = ['Host', '127.0.0.1', 'User-Agent', 'in-process', ...call.headers.flat()];
    if (call.body !== undefined) raw.push('Content-Length', String(Buffer.byteLength(call.body)));
    req.rawHeaders = raw;
    const headers: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
    Object.assign(req, { headers });
    if (call.body !== undefined) req.push(call.body);
    req.push(null);
    req.complete = true;
    const res = new call.classes.ServerResponse(req);
    res.assignSocket(socket as never);
    res.on('finish', () => {
      res.detachSocket(socket as never);
      resolve(res.statusCode);
    });
    call.app(req, res);
  });
}

/** The bench's API requests (./requests.ts), made by caller `i` (modulo), each built once. */
export function apiTargets(app: Express, classes: Classes, callers: readonly Caller[]): Record<ApiTarget, (i: number) => Call> {
  const calls = callers.map((caller) => {
    const requests = apiRequests(caller);
    const call = (r: BenchRequest): Call => ({ app, classes, method: r.method, url: r.path, headers: Object.entries(r.headers), ...(r.body === undefined ? {} : { body: r.body }) });
    return { me: call(requests.me), key: call(requests.key), verify: call(requests.verify) };
  });
  const of = (target: ApiTarget) => (i: number) => calls[i % calls.length]![target];
  return { me: of('me'), key: of('key'), verify: of('verify') };
}

/** The process's CPU time (all threads) per request over `count` requests, one at a time, in µs; fails on a non-2xx. */
export async function cpuPerRequest(name: string, make: (i: number) => Call, count: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const status = await send(make(i));
    if (status >= 300) throw new Error(`${name} answered ${status}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

/** The same requests, untimed, before any timing: JIT and caches warm, every answer a 2xx. */
export async function warmUp(name: string, make: (i: number) => Call, count = 5000): Promise<void> {
  await cpuPerRequest(name, make, count);
}

export interface LoadedApp {
  app: Express;
  classes: Classes;
  close: () => Promise<void>;
}

/**
 * The app of the checkout at `root` (this one, or another for ./ab.ts), on its own copy of the
 * seeded SQLite file, with its usage flushed once a second as the server does.
 */
export async function loadApp(root: string, seededFile: string): Promise<LoadedApp> {
  const load = (path: string) => import(pathToFileURL(join(root, 'server/src', path)).href);
  const [{ createApp }, { prototypedClasses }, { systemClock }, { KeyService }, { nodeCrypto }, { openSqliteStore }] = await Promise.all(
    ['app.ts', 'http/server.ts', 'domain/clock.ts', 'domain/service.ts', 'node-crypto.ts', 'store/sqlite.ts'].map(load),
  );
  const dataDir = mkdtempSync(join(tmpdir(), 'heykeys-bench-app-'));
  copyInto(seededFile, dataDir);
  const store = openSqliteStore(join(dataDir, 'heykeys.db'));
  const service = new KeyService({ store, clock: systemClock, crypto: nodeCrypto, keyPrefix: 'hey_' });
  const app = createApp({ service, rateLimitPerMinute: 0 }) as Express;
  const flushes = setInterval(() => service.flush().catch((error: unknown) => console.error(error)), 1000);
  return {
    app,
    classes: prototypedClasses(app),
    close: async () => {
      clearInterval(flushes);
      await service.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
