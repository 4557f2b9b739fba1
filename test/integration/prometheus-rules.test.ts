/**
 * infra/prometheus with Debian's promtool (installed when missing):
 * `check config`, `check rules`, and `test rules` over infra/prometheus/tests/,
 * whose cases must cover every alert both ways (a case where it fires, with
 * its labels and annotations, and one where it must not). Every metric the
 * rules and the dashboard name is one the code exports, and the dashboard's
 * panels all carry a query on the provisioned data source.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../shared/config/index.ts';
import { ensurePrometheus, runPromtool } from '../../shared/stack/index.ts';

const dir = path.join(projectRoot, 'infra/prometheus');
const testsDir = path.join(dir, 'tests');

interface RuleFile { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }> }
interface UnitTests { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> }

function rules(file: string): RuleFile['groups'][number]['rules'] {
  return (parse(readFileSync(path.join(dir, 'rules', file), 'utf8')) as RuleFile).groups.flatMap((group) => group.rules);
}

/** Every metric name registered in the code (`name: 'deltameta_…'`), with a histogram's series suffixes. */
function exportedMetricNames(): Set<string> {
  const files = [
    ...readdirSync(path.join(projectRoot, 'shared/metrics')).map((file) => path.join('shared/metrics', file)),
    ...readdirSync(path.join(projectRoot, 'services')).flatMap((service) => readdirSync(path.join(projectRoot, 'services', service)).map((file) => path.join('services', service, file))),
  ].filter((file) => file.endsWith('.ts'));
  const names = new Set<string>(['up']);
  for (const file of files) {
    const text = readFileSync(path.join(projectRoot, file), 'utf8');
    for (const match of text.matchAll(/name: '(deltameta_[a-z0-9_]+)'/g)) {
      const name = match[1] ?? '';
      for (const suffix of ['', '_bucket', '_count', '_sum']) names.add(name + suffix);
    }
    for (const match of text.matchAll(/MetricName = '(deltameta_[a-z0-9_]+)'/g)) names.add(match[1] ?? '');
  }
  return names;
}

function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(deltameta_[a-z0-9_]+|up)\b/g)].map((match) => match[1] ?? '');
}

describe('prometheus rules and dashboard', function () {
  this.timeout(300_000);

  before(async () => {
    await ensurePrometheus();
  });

  it('promtool checks the configuration and both rule files', async () => {
    const config = await runPromtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
    expect(config.stdout).to.match(/SUCCESS: 2 rule files found/);
    const checked = await runPromtool(['check', 'rules', path.join(dir, 'rules/recording.yml'), path.join(dir, 'rules/alerts.yml')]);
    expect(checked.stdout).not.to.match(/FAILED/);
  });

  it('every alert has a severity, a summary, a description naming what to look at, and its runbook section', () => {
    const operations = readFileSync(path.join(projectRoot, 'docs/operations.md'), 'utf8');
    const alerts = rules('alerts.yml').filter((rule) => rule.alert);
    expect(alerts.length).to.be.greaterThan(15);
    for (const rule of alerts) {
      const name = rule.alert ?? '';
      expect(rule.labels?.['severity'], name).to.be.oneOf(['warning', 'critical']);
      expect(rule.annotations?.['summary'], name).to.be.a('string').and.not.equal('');
      expect(rule.annotations?.['description'], name).to.match(/deltameta status|deltameta[_:][a-z0-9_:]+|up\{/);
      expect(rule.annotations?.['runbook_url'], name).to.equal(`docs/operations.md#${name.toLowerCase()}`);
      expect(operations, `docs/operations.md has no section ### ${name}`).to.include(`\n### ${name}\n`);
    }
  });

  it('the rules and the dashboard name only metrics the services export', () => {
    const exported = exportedMetricNames();
    const recorded = new Set(rules('recording.yml').map((rule) => rule.record ?? ''));
    const dashboard = readFileSync(path.join(projectRoot, 'infra/grafana/dashboards/deltameta.json'), 'utf8');
    const used = [...rules('recording.yml'), ...rules('alerts.yml')].flatMap((rule) => metricsIn(rule.expr));
    used.push(...[...dashboard.matchAll(/"expr": "([^"]*)"/g)].flatMap((match) => metricsIn(match[1] ?? '')));
    for (const name of used) expect(exported.has(name), `${name} is not exported by any service`).to.equal(true);
    for (const match of dashboard.matchAll(/\b(deltameta:[a-z0-9_:]+)/g)) expect(recorded.has(match[1] ?? ''), `${match[1]} is not recorded`).to.equal(true);
  });

  it('the dashboard reads as an operator does, every panel on the provisioned data source', () => {
    const dashboard = JSON.parse(readFileSync(path.join(projectRoot, 'infra/grafana/dashboards/deltameta.json'), 'utf8')) as {
      uid: string; panels: Array<{ type: string; title: string; datasource?: { uid: string }; targets?: Array<{ expr: string; refId: string }> }>;
    };
    const source = parse(readFileSync(path.join(projectRoot, 'infra/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: Array<{ uid: string }> };
    const rows = dashboard.panels.filter((panel) => panel.type === 'row').map((panel) => panel.title);
    expect(rows).to.deep.equal(['Freshness', 'Pipeline, stage by stage', 'Readers', 'Follower, publisher, committer', 'Services']);
    const first = dashboard.panels.find((panel) => panel.type !== 'row');
    expect(first?.title).to.equal('commit → visible');
    for (const panel of dashboard.panels.filter((candidate) => candidate.type !== 'row')) {
      expect(panel.datasource?.uid, panel.title).to.equal(source.datasources[0]?.uid);
      expect(panel.targets?.length, panel.title).to.be.greaterThan(0);
      for (const target of panel.targets ?? []) expect(target.expr, panel.title).to.be.a('string').and.not.equal('');
    }
  });

  it('the unit tests cover every alert firing and not firing, and pass in promtool', async () => {
    const files = readdirSync(testsDir).filter((file) => file.endsWith('.test.yml'));
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const file of files) {
      for (const test of (parse(readFileSync(path.join(testsDir, file), 'utf8')) as UnitTests).tests) {
        for (const check of test.alert_rule_test ?? []) ((check.exp_alerts?.length ?? 0) > 0 ? fires : quiet).add(check.alertname);
      }
    }
    for (const rule of rules('alerts.yml')) {
      expect(fires.has(rule.alert ?? ''), `no case where ${rule.alert} fires`).to.equal(true);
      expect(quiet.has(rule.alert ?? ''), `no case where ${rule.alert} must not fire`).to.equal(true);
    }
    const result = await runPromtool(['test', 'rules', ...files], testsDir);
    expect(result.stdout).to.match(/SUCCESS/);
    expect(result.stdout).not.to.match(/FAILED/);
  });
});
