// Load: the policy's steady request rate (constant-arrival-rate: an open
// model, so a slow target cannot slow the arrivals down), weighted user mix.
import { arrivalRate, optionsFor, sizesFor } from './lib/config.js';
import { nextRequest, weightedUser } from './lib/users.js';

const s = sizesFor('load', 'constant-arrival-rate');

export const options = optionsFor('load', {
  executor: 'constant-arrival-rate',
  rate: s.rate,
  duration: `${s.duration_s}s`,
  ...arrivalRate(s),
});

export default function () {
  nextRequest(weightedUser);
}

export { handleSummary } from './lib/summary.js';
