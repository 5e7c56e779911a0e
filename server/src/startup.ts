/**
 * How the entry points (main.ts, cli.ts) stop on what an operator must fix: a configuration value
 * (ConfigError), a store they cannot use (StoreOpenError), an address they cannot listen on
 * (ListenError). One line on stderr, exit code 1, no stack trace: an answer, not a crash. Any other
 * error is a bug, and is thrown with its stack.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './config.ts';
import { StoreOpenError } from './store/store.ts';

export class ListenError extends Error {}

/** Runs `work`; an operator's error ends the process as described above. */
export async function orExit<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof ConfigError || error instanceof StoreOpenError || error instanceof ListenError)) throw error;
    console.error(`heykeys: ${error.message}`);
    process.exit(1);
  }
}

const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: 'another process is listening there; stop it or set another PORT',
  EACCES: 'not permitted (ports below 1024 need privileges); set another PORT',
  EADDRNOTAVAIL: 'HOST is not an address of this machine',
  ENOTFOUND: 'HOST is not an address of this machine',
};

/** Listens, or rejects with a ListenError that names the address and what to change. */
export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const hint = LISTEN_HINTS[error.code ?? ''];
      reject(hint ? new ListenError(`cannot listen on ${host}:${port}: ${hint} (${error.code})`, { cause: error }) : error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
