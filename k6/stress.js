// Stress: the request rate ramps through the policy's stages, past the
// expected load, to find where latency and errors give way.
import { arrivalRate, optionsFor, sizesFor, stages } from './lib/config.js';
import { nextRequest, weightedUser } from './lib/users.js';

const s = sizesFor('stress', 'ramping-arrival-rate');

export const options = optionsFor('stress', {
  executor: 'ramping-arrival-rate',
  startRate: s.start_rate,
  stages: stages(s),
  ...arrivalRate(s),
});

export default function () {
  nextRequest(weightedUser);
}

export { handleSummary } from './lib/summary.js';
