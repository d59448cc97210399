// End-of-test summary. The harness reads the full handleSummary data as JSON
// (file named by TARTWARE_K6_SUMMARY): there `"ok": true` means a threshold
// passed, unlike --summary-export whose booleans mean "crossed".
function fmt(metric, values) {
  if (!values) return 'n/a';
  if (metric.type === 'trend') return `p95=${values['p(95)'].toFixed(1)}ms p99=${values['p(99)'].toFixed(1)}ms`;
  if (metric.type === 'rate') return `rate=${(values.rate * 100).toFixed(2)}%`;
  return `count=${values.count}`;
}

function brief(data) {
  const lines = [];
  for (const [name, metric] of Object.entries(data.metrics)) {
    for (const [expr, t] of Object.entries(metric.thresholds || {})) {
      lines.push(`${t.ok ? 'PASS' : 'FAIL'} ${name} ${expr} (${fmt(metric, metric.values)})`);
    }
  }
  const reqs = data.metrics.http_reqs;
  lines.push(reqs ? `http_reqs ${reqs.values.count} (${reqs.values.rate.toFixed(1)}/s)` : 'no http_reqs');
  return `${lines.join('\n')}\n`;
}

export function handleSummary(data) {
  const out = { stdout: brief(data) };
  if (__ENV.TARTWARE_K6_SUMMARY) out[__ENV.TARTWARE_K6_SUMMARY] = JSON.stringify(data);
  return out;
}
