/**
 * The CDC's own metric beside the shared ones (cdcMetrics in shared/metrics):
 * deltameta_cdc_active, 1 while this instance streams from the slot, 0 while
 * it stands by (or has not connected yet). Summed over the instances it is 1
 * in a healthy deployment; 0 for long means nobody publishes commits.
 */
import { Gauge, type Registry } from 'prom-client';

export function cdcActiveGauge(registry: Registry, isActive: () => boolean): Gauge {
  return new Gauge({
    name: 'deltameta_cdc_active',
    help: 'Whether this CDC instance streams from the replication slot (1) or stands by for it (0)',
    registers: [registry],
    collect() {
      this.set(isActive() ? 1 : 0);
    },
  });
}
