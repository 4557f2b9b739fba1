/**
 * `deltameta status` as a probe: it checks the alerts of
 * infra/prometheus/rules/alerts.yml whose figures it reads itself, with the
 * thresholds read from that file. Every figure it reads names a series an
 * alert uses (a renamed recording rule would silently leave it unchecked),
 * and each checked alert fires just above its threshold and not at it; the
 * consumer lag is checked for every group reading the topic, subscribers too.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { alertRulesFile, checkAlerts, statusFigures } from '../../services/cli/index.ts';

const rules = readFileSync(alertRulesFile, 'utf8');
const emptyStatus = {
  slot: { name: 's', exists: true, active: true, lagBytes: 0 },
  consumer: { group: 'g', lagMessages: 0 },
  consumers: [{ group: 'g', lagMessages: 0 }],
  refreshQueue: { name: 'q', waiting: 0, active: 0, failed: 0, oldestWaitingAgeSeconds: 0, quarantined: 0, retrying: [] },
  tables: [],
};

describe('status: the alerts it checks', () => {
  it('reads only figures an alert of alerts.yml compares with a threshold', () => {
    const figures = statusFigures(emptyStatus);
    const checked = checkAlerts(rules, figures);
    expect([...figures.keys()].sort()).to.deep.equal([...new Set(checked.map((check) => check.figure))].sort());
    expect(checked.length).to.be.at.least(figures.size);
  });

  it('fires an alert above its threshold, not at it', () => {
    const checked = checkAlerts(rules, statusFigures(emptyStatus));
    for (const check of checked) {
      const at = checkAlerts(rules, new Map([[check.figure, check.threshold]])).find((other) => other.alert === check.alert);
      const above = checkAlerts(rules, new Map([[check.figure, check.threshold + 1]])).find((other) => other.alert === check.alert);
      expect(at?.fires, `${check.alert} at ${check.threshold}`).to.equal(false);
      expect(above?.fires, `${check.alert} above ${check.threshold}`).to.equal(true);
    }
    expect(checked.map((check) => check.alert)).to.include.members(['DeltametaRefreshQueueStuck', 'DeltametaRefreshQuarantinedTables', 'DeltametaMaterializedStale', 'DeltametaPublishStopped', 'DeltametaSlotWalNearLimit']);
  });

  it('checks the consumer lag of every group on the topic and names the one behind', () => {
    const status = { ...emptyStatus, consumers: [{ group: 'g', lagMessages: 3 }, { group: 'team-billing', lagMessages: 5000 }] };
    const lagChecks = checkAlerts(rules, statusFigures(status)).filter((check) => check.alert === 'DeltametaConsumerLag');
    expect(lagChecks.map((check) => [check.labels, check.fires])).to.deep.equal([['group="g"', false], ['group="team-billing"', true]]);
  });
});
