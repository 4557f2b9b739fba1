/**
 * `deltameta status` as a probe (issue 14): the alerts of
 * infra/prometheus/rules/alerts.yml whose figure status reads itself, checked
 * against the same thresholds, read from that file (one source: a changed
 * threshold changes both). Evaluated now, without the rules' `for:` (a probe
 * answers "is it bad now"); alerts over rates, ratios and histograms need
 * Prometheus's history and are left to it. An alert is checked when its
 * expression starts with `<figure> > <number>` for a figure below.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../shared/config/index.ts';
import type { PipelineStatus } from './status.ts';

export const alertRulesFile = path.join(projectRoot, 'infra', 'prometheus', 'rules', 'alerts.yml');

export interface AlertCheck {
  readonly alert: string;
  readonly figure: string;
  /** the series' labels when the figure has one per group (`group="…"`), else '' */
  readonly labels: string;
  readonly value: number;
  readonly threshold: number;
  readonly fires: boolean;
  readonly summary: string;
}

/** A figure's value, or its values per label set (the consumer lag, one per group). */
export type Figure = number | ReadonlyArray<{ readonly labels: string; readonly value: number }>;

/** The figures status reads, under the names the rules use (recording rules and metrics). */
export function statusFigures(status: PipelineStatus): Map<string, Figure> {
  const figures = new Map<string, Figure>();
  const max = (values: number[]): number => Math.max(0, ...values);
  if (status.slot.lagBytes !== null) figures.set('deltameta:cdc_replication_lag_bytes:max', status.slot.lagBytes);
  if (status.consumer.lagMessages !== null) {
    figures.set('deltameta:kafka_consumer_lag_messages:max', status.consumers.map((entry) => ({ labels: `group="${entry.group}"`, value: entry.lagMessages })));
  }
  figures.set('deltameta:queue_oldest_waiting_age_seconds:max', status.refreshQueue.oldestWaitingAgeSeconds);
  figures.set('max(deltameta_refresh_quarantined_tables)', status.refreshQueue.quarantined);
  figures.set('deltameta:mv_staleness_versions:max', max(status.tables.map((table) => table.head - (table.materialized ?? -1))));
  figures.set('deltameta:file_pages_behind_versions:max', max(status.tables.map((table) => (table.pages === null ? 0 : table.head - table.pages))));
  figures.set('deltameta:publish_lag_versions:max', max(status.tables.map((table) => table.publish?.lagVersions ?? 0)));
  figures.set('max(deltameta_publish_stopped_tables)', status.tables.filter((table) => table.publish?.stopped).length);
  figures.set('max(deltameta_follow_missing_versions)', status.tables.reduce((sum, table) => sum + (table.follow?.missing ? table.follow.missing[1] - table.follow.missing[0] + 1 : 0), 0));
  return figures;
}

interface RuleFile { groups?: Array<{ rules?: Array<{ alert?: string; expr?: string; annotations?: { summary?: string } }> }> }

const comparison = /^\s*(\S+)\s*>\s*(-?[0-9.]+(?:e[+-]?\d+)?)\s*(?:$|and\b)/;

/** Each alert of `rulesYaml` status can check, against `figures`. */
export function checkAlerts(rulesYaml: string, figures: ReadonlyMap<string, Figure>): AlertCheck[] {
  const rules = (parse(rulesYaml) as RuleFile).groups?.flatMap((group) => group.rules ?? []) ?? [];
  return rules.flatMap((rule) => {
    const match = rule.alert && rule.expr ? comparison.exec(rule.expr) : null;
    const figure = match?.[1];
    const found = figure === undefined ? undefined : figures.get(figure);
    const alert = rule.alert;
    if (!match || !alert || figure === undefined || found === undefined) return [];
    const threshold = Number(match[2]);
    const series = typeof found === 'number' ? [{ labels: '', value: found }] : found;
    return series.map(({ labels, value }) => ({ alert, figure, labels, value, threshold, fires: value > threshold, summary: rule.annotations?.summary ?? '' }));
  });
}

export function alertChecks(status: PipelineStatus, rulesFile = alertRulesFile): AlertCheck[] {
  return checkAlerts(readFileSync(rulesFile, 'utf8'), statusFigures(status));
}

export function formatAlertChecks(checks: readonly AlertCheck[]): string {
  const firing = checks.filter((check) => check.fires);
  const lines = [`alerts checked against infra/prometheus/rules/alerts.yml (now, without their for:): ${checks.length}; would fire: ${firing.length}`];
  for (const check of firing) lines.push(`  ${check.alert}: ${check.figure}${check.labels ? `{${check.labels}}` : ''} = ${check.value} > ${check.threshold}${check.summary ? ` (${check.summary})` : ''}`);
  return lines.join('\n');
}
