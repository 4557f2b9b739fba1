/**
 * The publisher's file operations on a `_delta_log`: a commit file appears
 * only complete and only if absent (written beside it, made durable, then
 * hard-linked to its name: link() fails with EEXIST rather than replace
 * anything), and an existing file is compared byte for byte; a checkpoint
 * pointer is replaced atomically (rename). Temporary names start with a
 * dot, which no Delta log file pattern matches, so a reader listing the
 * folder never sees one, even one a crash left behind.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** What became of a put-if-absent: written now, already there with the same bytes, or already there different. */
export type PutOutcome = 'written' | 'identical' | 'different';

function temporaryName(logDir: string, name: string): string {
  return path.join(logDir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
}

/** fsync of a folder: the names created or renamed in it are durable. */
export async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `<logDir>/<name>` with what `write` puts in the handle, unless a
 * file of that name exists; then compares. The new file's modification
 * time is `mtimeSeconds` (a version's timestamp: file-time time travel).
 * Either way the name is durable when this returns.
 */
export async function putIfAbsent(
  logDir: string, name: string, write: (handle: FileHandle) => Promise<void>, mtimeSeconds: number,
): Promise<PutOutcome> {
  const target = path.join(logDir, name);
  const temp = temporaryName(logDir, name);
  let outcome: PutOutcome;
  try {
    const handle = await open(temp, 'wx');
    try {
      await write(handle);
      await handle.utimes(mtimeSeconds, mtimeSeconds);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, target);
      outcome = 'written';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      outcome = (await sameBytes(temp, target)) ? 'identical' : 'different';
      // Written by an earlier run that may have crashed before its fsync of the folder.
      if (outcome === 'identical') await syncFile(target);
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await syncFolder(logDir);
  return outcome;
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Byte-for-byte equality of two files, read a chunk at a time (a commit of a million adds is hundreds of MB). */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [statA, statB] = await Promise.all([stat(a), stat(b)]);
  if (!statB.isFile() || statA.size !== statB.size) return false;
  const [handleA, handleB] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const chunk = 1 << 20;
    const bufferA = Buffer.alloc(chunk);
    const bufferB = Buffer.alloc(chunk);
    for (let position = 0; position < statA.size; position += chunk) {
      const [readA, readB] = await Promise.all([handleA.read(bufferA, 0, chunk, position), handleB.read(bufferB, 0, chunk, position)]);
      if (readA.bytesRead !== readB.bytesRead || !bufferA.subarray(0, readA.bytesRead).equals(bufferB.subarray(0, readB.bytesRead))) return false;
    }
    return true;
  } finally {
    await Promise.all([handleA.close(), handleB.close()]);
  }
}

/** Replaces `<logDir>/<name>` atomically and durably (`_last_checkpoint`: overwritten by design). */
export async function replaceFile(logDir: string, name: string, content: string): Promise<void> {
  const temp = temporaryName(logDir, name);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path.join(logDir, name));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncFolder(logDir);
}
