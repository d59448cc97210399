// Spike: base rate, a sudden jump to the peak, back to base (the shape's
// stages are computed once, in conformance/slo/config.py).
import { arrivalRate, optionsFor, sizesFor, stages } from './lib/config.js';
import { nextRequest, weightedUser } from './lib/users.js';

const s = sizesFor('spike', 'ramping-arrival-rate');

export const options = optionsFor('spike', {
  executor: 'ramping-arrival-rate',
  startRate: s.start_rate,
  stages: stages(s),
  ...arrivalRate(s),
});

export default function () {
  nextRequest(weightedUser);
}

export { handleSummary } from './lib/summary.js';
