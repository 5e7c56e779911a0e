/**
 * The SQLite writer thread (see ./sqlite-writer.ts): its own connection to the database file,
 * running the background writes one request at a time, in order.
 *
 * `synchronous = NORMAL` on this connection only: a commit here is not synced on its own, but the
 * next commit of the main connection (FULL) or the next checkpoint syncs it. Last-use times and
 * usage entries are not security decisions, and a crash of the process loses none of what this
 * thread committed; a power cut may lose the last moments of them. Revokes, rotations and every
 * other change the API acknowledges stay on the main connection at FULL (docs/decisions/0002).
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { KeyUse } from '../domain/model.ts';
import { BUSY_TIMEOUT_MS, prepareBackgroundWrites, unpackUsage, type PackedUsage, type WriterReply, type WriterRequest } from './sqlite-writer.ts';

const port = parentPort!;
const db = new DatabaseSync((workerData as { file: string }).file);
db.exec('PRAGMA journal_mode = WAL');
db.exec('PRAGMA synchronous = NORMAL');
db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
const writes = prepareBackgroundWrites(db);

port.on('message', ({ id, op, arg }: WriterRequest) => {
  let reply: WriterReply;
  try {
    if (op === 'recordUse') reply = { id, result: writes.recordUse(arg as KeyUse[]) };
    else if (op === 'appendUsage') reply = { id, result: writes.appendUsage(unpackUsage(arg as PackedUsage)) };
    else if (op === 'pruneUsage') reply = { id, result: writes.pruneUsage(arg as number) };
    else {
      db.close();
      port.postMessage({ id } satisfies WriterReply);
      port.close();
      return;
    }
  } catch (error) {
    const { message, code, errcode } = error as { message: string; code?: string; errcode?: number };
    reply = { id, error: { message, ...(typeof code === 'string' ? { code } : {}), ...(typeof errcode === 'number' ? { errcode } : {}) } };
  }
  port.postMessage(reply);
});
