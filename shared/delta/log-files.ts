/**
 * Opening the files of a `_delta_log` as untrusted input: a name in the log
 * (a sidecar's path) or a symlink in the folder must not lead outside it
 * (to another table, /etc, /dev/zero), a FIFO must not block a read
 * forever, and a file read whole must be small enough to read whole.
 */
import { realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputRefusedError, LogFormatError } from '../errors/index.ts';

/**
 * The file's size, after checking that its real path (symlinks resolved)
 * lies under `root`'s real path and that it is a regular file of at most
 * maxBytes.
 */
export async function checkLogFile(root: string, file: string, maxBytes: number): Promise<number> {
  let real: string;
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(file);
  } catch (error) {
    throw new LogFormatError(file, undefined, `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
  }
  if (real !== realRoot && !real.startsWith(`${realRoot}${path.sep}`)) {
    throw new InputRefusedError(file, undefined, `resolves to ${real}, outside ${root}`);
  }
  const info = await stat(real);
  if (!info.isFile()) throw new InputRefusedError(file, undefined, 'is not a regular file');
  if (info.size > maxBytes) throw new InputRefusedError(file, undefined, `is ${info.size} bytes, over the limit of ${maxBytes}`);
  return info.size;
}

/** A JSON log file's text, checked as checkLogFile does (root: its `_delta_log`). */
export async function readLogText(root: string, file: string, maxBytes: number): Promise<string> {
  await checkLogFile(root, file, maxBytes);
  return readFile(file, 'utf8');
}

/**
 * Where a V2 checkpoint's sidecar lives: a plain name (or a relative path
 * without `..`) under `_delta_log/_sidecars`. Absolute paths and URIs are
 * refused: a log must not name files of another table or of the host.
 */
export function sidecarFile(logDir: string, sidecarPath: string, namedBy: string): string {
  if (sidecarPath === '' || path.isAbsolute(sidecarPath) || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(sidecarPath) || sidecarPath.includes('\\')) {
    throw new InputRefusedError(namedBy, undefined, `sidecar.path ${JSON.stringify(sidecarPath.slice(0, 200))} must be a relative name inside _delta_log/_sidecars`);
  }
  if (sidecarPath.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new InputRefusedError(namedBy, undefined, `sidecar.path ${JSON.stringify(sidecarPath.slice(0, 200))} must not contain '.' or '..' segments`);
  }
  return path.join(logDir, '_sidecars', sidecarPath);
}
