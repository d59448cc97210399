// Smoke: a few VUs walk every user type's flow in turn, with think time.
// Proves each route answers correctly under light load; thresholds from the policy.
import { sleep } from 'k6';
import { optionsFor, sizesFor } from './lib/config.js';
import * as api from './lib/routes.js';
import { nextRequest, roundRobinUser } from './lib/users.js';

const s = sizesFor('smoke', 'constant-vus');

export const options = optionsFor('smoke', {
  executor: 'constant-vus',
  vus: s.vus,
  duration: `${s.duration_s}s`,
  gracefulStop: `${s.graceful_stop_s}s`,
});

export function setup() {
  api.health();
}

export default function () {
  // Offset by VU so the VUs start on different user types.
  nextRequest((n) => roundRobinUser(n + __VU));
  sleep(s.think_time_s);
}

export { handleSummary } from './lib/summary.js';
