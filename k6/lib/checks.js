// Response checks. A failed check does not fail a k6 run by itself: the
// `checks` threshold (from the policy) is what turns them into an SLO.
import { check } from 'k6';
import { Counter } from 'k6/metrics';

// Requests that got no HTTP response at all (refused, reset, timed out). The
// harness treats a run where every request ended like this as "target down"
// (broken), not as an SLO miss.
export const transportErrors = new Counter('tartware_transport_errors');

/**
 * Check status (and, optionally, the body) of one response; returns true if all passed.
 * `route` is the request's name tag, so failures group by route, not by URL.
 */
export function expectResponse(res, route, status, bodyCheck) {
  if (res.status === 0) transportErrors.add(1);
  const checks = { [`${route} -> ${status}`]: (r) => r.status === status };
  if (bodyCheck) {
    checks[`${route} body`] = (r) => {
      try {
        return r.status === status && bodyCheck(r.json());
      } catch (e) {
        return false; // not JSON: a failed check, not a script error
      }
    };
  }
  return check(res, checks);
}
