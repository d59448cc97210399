// The run configuration, generated from manifests/policy.yaml by
// conformance/slo/config.py (`python -m conformance.slo.config`). Thresholds
// and sizes are typed only in the policy: nothing here repeats a number.
const CONFIG_SCHEMA = 'tartware-k6-config/v1';

function load() {
  const path = __ENV.TARTWARE_K6_CONFIG;
  if (!path) {
    throw new Error('TARTWARE_K6_CONFIG is not set: write one with ' +
      '`python -m conformance.slo.config -o build/k6.json` and pass its absolute path');
  }
  const cfg = JSON.parse(open(path));
  if (cfg.schema !== CONFIG_SCHEMA) {
    throw new Error(`${path}: schema ${cfg.schema} is not ${CONFIG_SCHEMA}: regenerate it`);
  }
  return cfg;
}

export const config = load();
// Every URL the scripts build starts with this: they contact nothing else.
export const baseUrl = config.baseUrl.replace(/\/+$/, '');

/** The sizes of one scenario, with a clear error if the config lacks it. */
export function sizesFor(name, executor) {
  const s = config.scenarios[name];
  if (!s) throw new Error(`config has no scenario "${name}"`);
  if (s.executor !== executor) {
    throw new Error(`scenario "${name}" expects executor ${executor}, config says ${s.executor}`);
  }
  return s;
}

/** k6 options shared by every scenario: thresholds from the policy, plus guards. */
export function optionsFor(name, executor) {
  return {
    scenarios: { [name]: executor },
    thresholds: config.thresholds,
    summaryTrendStats: config.summaryTrendStats,
    systemTags: config.systemTags,
    // Bodies are read only where a flow needs an id (responseType: 'text' per request).
    discardResponseBodies: true,
    blacklistIPs: config.blockedIPs,
    userAgent: config.userAgent,
  };
}

/** Executor options shared by the arrival-rate scenarios. */
export function arrivalRate(s) {
  return {
    timeUnit: '1s',
    preAllocatedVUs: s.pre_allocated_vus,
    maxVUs: s.max_vus,
    gracefulStop: `${s.graceful_stop_s}s`,
  };
}

export function stages(s) {
  return s.stages.map((st) => ({ target: st.target, duration: `${st.duration_s}s` }));
}
