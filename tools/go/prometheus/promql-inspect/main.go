// Command promql-inspect reads PromQL expressions with Prometheus's own parser
// (the pinned github.com/prometheus/prometheus module), for the conformance suite.
//
//	promql-inspect < exprs.json           # [{"expr": "..."}] -> one result per expression
//	promql-inspect -scale 60 < exprs.json # also: the expression with every duration / 60
//
// Each result: {"error": "...", "metrics": [...], "unnamed": n, "ranges_s": [...], "scaled": "..."}.
// metrics are the metric names of its vector selectors (unnamed counts selectors without one),
// ranges_s the range and subquery windows in seconds. Scaling divides range, subquery step and
// offset durations, so a production expression runs on a compressed clock, never re-typed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type input struct {
	Expr string `json:"expr"`
}

type result struct {
	Error   string    `json:"error,omitempty"`
	Metrics []string  `json:"metrics"`
	Unnamed int       `json:"unnamed"`
	Ranges  []float64 `json:"ranges_s"`
	Scaled  string    `json:"scaled,omitempty"`
}

func scale(d time.Duration, factor float64) time.Duration {
	// Whole milliseconds: Prometheus prints and stores durations at that precision.
	return time.Duration(float64(d)/factor/float64(time.Millisecond)) * time.Millisecond
}

func inspect(p parser.Parser, expr string, factor float64) result {
	res := result{Metrics: []string{}, Ranges: []float64{}}
	ast, err := p.ParseExpr(expr)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	names := map[string]bool{}
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := ""
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				res.Unnamed++
			} else {
				names[name] = true
			}
			if factor > 0 {
				n.OriginalOffset = scale(n.OriginalOffset, factor)
			}
		case *parser.MatrixSelector:
			res.Ranges = append(res.Ranges, n.Range.Seconds())
			if factor > 0 {
				n.Range = scale(n.Range, factor)
			}
		case *parser.SubqueryExpr:
			res.Ranges = append(res.Ranges, n.Range.Seconds())
			if factor > 0 {
				n.Range, n.Step = scale(n.Range, factor), scale(n.Step, factor)
				n.OriginalOffset = scale(n.OriginalOffset, factor)
			}
		}
		return nil
	})
	for name := range names {
		res.Metrics = append(res.Metrics, name)
	}
	sort.Strings(res.Metrics)
	if factor > 0 {
		res.Scaled = ast.String()
	}
	return res
}

func main() {
	factor := flag.Float64("scale", 0, "divide every duration in the expressions by this factor")
	version := flag.Bool("version", false, "print the Prometheus module version this was built with")
	flag.Parse()
	if *version {
		fmt.Println("promql-inspect (github.com/prometheus/prometheus " + moduleVersion() + ")")
		return
	}
	var exprs []input
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintln(os.Stderr, "promql-inspect: stdin must be a JSON list of {\"expr\": ...}:", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	out := make([]result, len(exprs))
	for i, e := range exprs {
		out[i] = inspect(p, e.Expr, *factor)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "promql-inspect:", err)
		os.Exit(1)
	}
}
