/**
 * The signed file route with nothing else of the reader: a Fastify app with
 * just sharingFileRoute, a table written by delta-rs in a temporary
 * location. A signed URL serves the file whole, by ranges (the Parquet
 * footer seek `-8`, the magic `0-3`) and to HEAD; an expired, altered or
 * escaping URL is 403; and pyarrow, reading the file through the URL with
 * range requests only (a seekable file object over urllib), gets the same
 * table as reading it from disk.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import { sharingFileRoute } from '../../services/reader/index.ts';
import { fileTokenOfUrl, HmacFileUrlSigner, issueFileToken } from '../../services/reader/index.ts';
import { ensureDeltaRs } from '../support/deltars.ts';
import { TempDirs } from '../support/tables.ts';

const execFileAsync = promisify(execFile);

const writeTable = [
  'import sys, pyarrow as pa',
  'from deltalake import write_deltalake',
  "write_deltalake(sys.argv[1], pa.table({'id': list(range(500)), 'v': [f'row {i}' for i in range(500)]}))",
].join('\n');

/** Reads the Parquet file at argv[1] through HTTP range requests only, and from disk (argv[2]); prints whether they are equal. */
const readThroughUrl = [
  'import io, json, sys, urllib.request',
  'import pyarrow.parquet as pq',
  'class RangeFile(io.RawIOBase):',
  '    def __init__(self, url):',
  '        self.url, self.pos, self.requests = url, 0, []',
  "        with urllib.request.urlopen(urllib.request.Request(url, method='HEAD')) as r:",
  "            self.size = int(r.headers['Content-Length'])",
  '    def readable(self): return True',
  '    def seekable(self): return True',
  '    def tell(self): return self.pos',
  '    def seek(self, offset, whence=0):',
  '        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)',
  '        return self.pos',
  '    def read(self, n=-1):',
  '        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)',
  "        if end <= self.pos: return b''",
  "        req = urllib.request.Request(self.url, headers={'Range': f'bytes={self.pos}-{end - 1}'})",
  '        with urllib.request.urlopen(req) as r:',
  '            assert r.status == 206, r.status',
  '            data = r.read()',
  '        self.requests.append((self.pos, end))',
  '        self.pos += len(data)',
  '        return data',
  'f = RangeFile(sys.argv[1])',
  'through = pq.read_table(f)',
  'direct = pq.read_table(sys.argv[2])',
  "print(json.dumps({'equal': through.equals(direct), 'rows': through.num_rows, 'requests': len(f.requests), 'first': f.requests[0]}))",
].join('\n');

describe('sharing: signed file URLs served by the reader', () => {
  const dirs = new TempDirs();
  const key = Buffer.from('an integration-test key of at least 32 bytes', 'utf8');
  const tableId = 'b8a1c3f2-0000-4000-8000-000000000001';
  let app: FastifyInstance;
  let baseUrl: string;
  let cappedBaseUrl: string;
  let location: string;
  let dataFile: string;
  let signer: HmacFileUrlSigner;

  before(async () => {
    location = dirs.make('sharing-files');
    const python = await ensureDeltaRs();
    await execFileAsync(python, ['-c', writeTable, location]);
    const parquet = readdirSync(location).filter((name) => name.endsWith('.parquet'));
    expect(parquet).to.have.length(1);
    dataFile = parquet[0] ?? '';
    // a secret outside the table, and a symlink inside the table pointing at it
    const outside = dirs.make('sharing-outside');
    writeFileSync(path.join(outside, 'secret.txt'), 'not shared');
    symlinkSync(path.join(outside, 'secret.txt'), path.join(location, 'link-out.parquet'));

    app = Fastify();
    await app.register(sharingFileRoute, {
      prefix: '/delta-sharing',
      key,
      resolveLocation: (id: string) => Promise.resolve(id === tableId ? location : undefined),
    });
    // the same route with a cap on range bodies
    await app.register(sharingFileRoute, {
      prefix: '/capped',
      key,
      maxRangeBytes: 4,
      resolveLocation: (id: string) => Promise.resolve(id === tableId ? location : undefined),
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `${address}/delta-sharing`;
    cappedBaseUrl = `${address}/capped`;
    signer = new HmacFileUrlSigner({ baseUrl, key });
  });

  after(async () => {
    await app.close();
    dirs.removeAll();
  });

  const sign = (file: string, expiresAtMs = Date.now() + 60_000): Promise<string> =>
    signer.sign({ tableId, tableLocation: location, path: file, size: 0 }, expiresAtMs);

  it('serves the file whole, with length, validators and Accept-Ranges', async () => {
    const onDisk = readFileSync(path.join(location, dataFile));
    const response = await fetch(await sign(dataFile));
    expect(response.status).to.equal(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(onDisk)).to.equal(true);
    expect(response.headers.get('content-length')).to.equal(String(onDisk.length));
    expect(response.headers.get('accept-ranges')).to.equal('bytes');
    expect(response.headers.get('etag')).to.be.a('string');
    expect(response.headers.get('last-modified')).to.be.a('string');
  });

  it('serves byte ranges: the footer (-8), the magic (0-3); several ranges get the whole file; 416 beyond the end', async () => {
    const onDisk = readFileSync(path.join(location, dataFile));
    const url = await sign(dataFile);
    const footer = await fetch(url, { headers: { range: 'bytes=-8' } });
    expect(footer.status).to.equal(206);
    const tail = Buffer.from(await footer.arrayBuffer());
    expect(tail.equals(onDisk.subarray(onDisk.length - 8))).to.equal(true);
    expect(tail.subarray(4).toString('latin1')).to.equal('PAR1');
    expect(footer.headers.get('content-range')).to.equal(`bytes ${onDisk.length - 8}-${onDisk.length - 1}/${onDisk.length}`);
    const magic = await fetch(url, { headers: { range: 'bytes=0-3' } });
    expect(magic.status).to.equal(206);
    expect(await magic.text()).to.equal('PAR1');
    const several = await fetch(url, { headers: { range: 'bytes=0-3,10-20' } });
    expect(several.status).to.equal(200);
    expect((await several.arrayBuffer()).byteLength).to.equal(onDisk.length);
    const beyond = await fetch(url, { headers: { range: `bytes=${onDisk.length + 10}-` } });
    expect(beyond.status).to.equal(416);
    await beyond.arrayBuffer();
  });

  it('maxRangeBytes cuts a longer range short, with the true Content-Range', async () => {
    const size = readFileSync(path.join(location, dataFile)).length;
    const url = await new HmacFileUrlSigner({ baseUrl: cappedBaseUrl, key }).sign({ tableId, tableLocation: location, path: dataFile, size }, Date.now() + 60_000);
    const response = await fetch(url, { headers: { range: 'bytes=0-99' } });
    expect(response.status).to.equal(206);
    expect(response.headers.get('content-range')).to.equal(`bytes 0-3/${size}`);
    expect(await response.text()).to.equal('PAR1');
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const size = readFileSync(path.join(location, dataFile)).length;
    const response = await fetch(await sign(dataFile), { method: 'HEAD' });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-length')).to.equal(String(size));
    expect(response.headers.get('accept-ranges')).to.equal('bytes');
    expect(await response.text()).to.equal('');
  });

  it('refuses an expired URL and an altered one (403 PERMISSION_DENIED)', async () => {
    const expired = await fetch(await sign(dataFile, Date.now() - 1000));
    expect(expired.status).to.equal(403);
    expect(await expired.json()).to.deep.include({ errorCode: 'PERMISSION_DENIED' });

    const url = await sign(dataFile);
    const token = fileTokenOfUrl(url);
    const [payload = '', mac = ''] = token.split('.');
    // the token whole in the path (URLs issued before the MAC moved to the query) is still served
    const legacy = await fetch(`${baseUrl}/files/${token}`, { method: 'HEAD' });
    expect(legacy.status).to.equal(200);
    // another file of the same table, under the original MAC
    const otherPayload = Buffer.from(JSON.stringify(['f1', tableId, '_delta_log/00000000000000000000.json', Date.now() + 60_000])).toString('base64url');
    const flipped = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'AB' : 'AA'}`;
    const sig = 'X-Databricks-Signature';
    const alteredTails = [
      `${otherPayload}.${mac}`, `${payload}.${flipped}`, `${payload}x.${mac}`, 'garbage',
      `${otherPayload}?${sig}=${mac}`, `${payload}?${sig}=${flipped}`, `${payload}x?${sig}=${mac}`,
      // no MAC at all, two of them, and one in both places
      payload, `${payload}?${sig}=${mac}&${sig}=${mac}`, `${token}?${sig}=${mac}`,
    ];
    for (const altered of alteredTails) {
      const response = await fetch(`${baseUrl}/files/${altered}`);
      expect(response.status, altered).to.equal(403);
      expect(await response.json()).to.deep.include({ errorCode: 'PERMISSION_DENIED' });
    }
    const head = await fetch(`${baseUrl}/files/${otherPayload}.${mac}`, { method: 'HEAD' });
    expect(head.status).to.equal(403);
  });

  it('refuses paths escaping the table: .., absolute, a symlink out (403); a missing file or table is 404', async () => {
    const expires = Date.now() + 60_000;
    for (const escaping of ['../sharing-outside/secret.txt', '/etc/passwd', 'a/../../x']) {
      // the signer will not sign it ...
      let refused = false;
      await sign(escaping).catch(() => { refused = true; });
      expect(refused, escaping).to.equal(true);
      // ... and a token carrying it anyway (signed with the key) is refused by the route
      const response = await fetch(`${baseUrl}/files/${issueFileToken(key, { tableId, path: escaping, expiresAtMs: expires })}`);
      expect(response.status, escaping).to.equal(403);
    }
    const symlinked = await fetch(await sign('link-out.parquet'));
    expect(symlinked.status).to.equal(403);
    expect(await symlinked.json()).to.deep.include({ errorCode: 'PERMISSION_DENIED' });

    const absent = await fetch(await sign('part-absent.parquet'));
    expect(absent.status).to.equal(404);
    expect(await absent.json()).to.deep.include({ errorCode: 'RESOURCE_DOES_NOT_EXIST' });
    const directory = await fetch(await sign('_delta_log'));
    expect(directory.status).to.equal(404);
    await directory.arrayBuffer();
    const otherTable = await fetch(`${baseUrl}/files/${issueFileToken(key, { tableId: 'unknown', path: dataFile, expiresAtMs: expires })}`);
    expect(otherTable.status).to.equal(404);
    await otherTable.arrayBuffer();
  });

  it('pyarrow reads the file through the URL, by range requests, equal to reading it from disk', async () => {
    const python = await ensureDeltaRs();
    const { stdout } = await execFileAsync(python, ['-c', readThroughUrl, await sign(dataFile), path.join(location, dataFile)]);
    const result = JSON.parse(stdout) as { equal: boolean; rows: number; requests: number; first: [number, number] };
    expect(result.equal).to.equal(true);
    expect(result.rows).to.equal(500);
    expect(result.requests).to.be.greaterThan(1);
  });
});
