/**
 * `deltameta up --instances`: the parsing of `name=N,...` (services started,
 * counts 1..16, BAD_INPUT → exit 2), the ports of each instance (base + 10 ×
 * (k − 1), never two the same, 0 stays 0) and their identity (DELTAMETA_INSTANCE).
 */
import { expect } from 'chai';
import { loadConfig } from '../../shared/config/index.ts';
import { DeltametaError, exitCodeFor } from '../../shared/errors/index.ts';
import { pipelineServiceNames, sidecarServiceNames, type PipelineServiceName } from '../../shared/service/index.ts';
import { formatInstanceTable, parseInstanceCounts, planInstances } from '../../services/cli/index.ts';

const all: PipelineServiceName[] = [...pipelineServiceNames, ...sidecarServiceNames];

function refusal(run: () => unknown): DeltametaError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(DeltametaError);
    expect(exitCodeFor(error)).to.equal(2);
    return error as DeltametaError;
  }
  throw new Error('expected a refusal');
}

describe('deltameta up --instances', () => {
  it('parses name=N for the services started, one each by default', () => {
    const counts = parseInstanceCounts('cdc=2, invalidator=3,refresher=3,reader=2', all);
    expect(Object.fromEntries(counts)).to.deep.equal({ cdc: 2, invalidator: 3, refresher: 3, reader: 2, follower: 1, publisher: 1, committer: 1 });
    expect(Object.fromEntries(parseInstanceCounts(undefined, ['reader']))).to.deep.equal({ reader: 1 });
    expect(Object.fromEntries(parseInstanceCounts('reader=16', ['reader']))).to.deep.equal({ reader: 16 });
  });

  it('refuses an unknown or unstarted service, a repeated one, a count outside 1..16 and garbage, with exit 2', () => {
    expect(refusal(() => parseInstanceCounts('readers=2', all)).message).to.match(/no service named "readers"/);
    expect(refusal(() => parseInstanceCounts('cdc=2', ['reader'])).message).to.match(/no service named "cdc" among those started \(reader\)/);
    expect(refusal(() => parseInstanceCounts('reader=2,reader=3', all)).message).to.match(/reader is given twice/);
    expect(refusal(() => parseInstanceCounts('reader=0', all)).message).to.match(/from 1 to 16/);
    expect(refusal(() => parseInstanceCounts('reader=17', all)).message).to.match(/from 1 to 16/);
    expect(refusal(() => parseInstanceCounts('reader', all)).message).to.match(/is not name=N/);
    expect(refusal(() => parseInstanceCounts('reader=-1', all)).message).to.match(/is not name=N/);
  });

  it('gives instance k the ports base + 10 × (k − 1), all distinct, and an identity when there are several', () => {
    const config = loadConfig({});
    const plan = planInstances(config, parseInstanceCounts('cdc=2,invalidator=3,refresher=3,reader=2,committer=16', all), {});
    const reader2 = plan.find((instance) => instance.label === 'reader#2');
    expect(reader2).to.deep.include({ service: 'reader', index: 2, adminPort: 9414, apiPort: 8090 });
    expect(reader2?.env).to.deep.equal({ DELTAMETA_READER_ADMIN_PORT: '9414', DELTAMETA_READER_PORT: '8090', DELTAMETA_INSTANCE: 'reader#2' });
    expect(plan.find((instance) => instance.label === 'reader#1')).to.deep.include({ adminPort: 9404, apiPort: 8080 });
    expect(plan.find((instance) => instance.label === 'committer#16')).to.deep.include({ adminPort: 9557, apiPort: 8231 });
    expect(plan.find((instance) => instance.label === 'cdc#2')?.env).to.deep.equal({ DELTAMETA_CDC_ADMIN_PORT: '9411', DELTAMETA_INSTANCE: 'cdc#2' });
    // One instance keeps its plain name and no DELTAMETA_INSTANCE: a single `up` is as before.
    const follower = plan.find((instance) => instance.service === 'follower');
    expect(follower).to.deep.include({ label: 'follower', adminPort: 9405, apiPort: undefined });
    expect(follower?.env).to.deep.equal({ DELTAMETA_FOLLOWER_ADMIN_PORT: '9405' });
    expect(plan).to.have.length(2 + 3 + 3 + 2 + 1 + 1 + 16);
    const ports = plan.flatMap((instance) => [instance.adminPort, ...(instance.apiPort === undefined ? [] : [instance.apiPort])]);
    expect(new Set(ports).size).to.equal(ports.length);
    // 16 of every service at once: still no clash.
    const most = planInstances(config, new Map(all.map((service) => [service, 16])), {});
    const mostPorts = most.flatMap((instance) => [instance.adminPort, instance.apiPort ?? -instance.adminPort]);
    expect(new Set(mostPorts).size).to.equal(mostPorts.length);
  });

  it('keeps 0 (any free port) for every instance and refuses bases that would clash', () => {
    const zero = loadConfig({ DELTAMETA_READER_ADMIN_PORT: '0' });
    const plan = planInstances(zero, new Map([['reader', 3]]), { DELTAMETA_READER_PORT: '0' });
    expect(plan.map((instance) => [instance.adminPort, instance.apiPort])).to.deep.equal([[0, 0], [0, 0], [0, 0]]);
    // The committer's API base 10 above the reader's: reader#2 would take it.
    const clash = refusal(() => planInstances(loadConfig({}), new Map([['reader', 2], ['committer', 1]]), { DELTAMETA_COMMITTER_PORT: '8090' }));
    expect(clash.message).to.match(/committer's API port and reader#2's API port would both listen on port 8090/);
    const stack = refusal(() => planInstances(loadConfig({}), new Map([['reader', 1]]), { DELTAMETA_READER_PORT: '55432' }));
    expect(stack.message).to.match(/PostgreSQL/);
    expect(refusal(() => planInstances(loadConfig({ DELTAMETA_READER_ADMIN_PORT: '65530' }), new Map([['reader', 2]]), {})).message).to.match(/above 65535/);
  });

  it('prints a table of instances and ports', () => {
    const table = formatInstanceTable([
      { label: 'reader#1', adminPort: 9404, apiPort: 8080, state: 'ready' },
      { label: 'cdc#2', adminPort: 9411, apiPort: undefined, state: 'ready' },
    ]);
    expect(table.split('\n')).to.deep.equal([
      'instance  admin  api   state',
      'reader#1  9404   8080  ready',
      'cdc#2     9411   -     ready',
    ]);
  });
});
