package main

// The routes and in-memory state of the model gateway: target.py's Gateway, route for route.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

type roomType struct {
	code, name string
	rate       float64
	occ        int
}

var roomTypes = []roomType{
	{"STD", "Standard Queen", 129.0, 2},
	{"DLX", "Deluxe King", 189.0, 2},
	{"FAM", "Family Suite", 249.0, 4},
	{"STE", "Executive Suite", 389.0, 3},
}

const (
	maxStayNights = 30
	maxBodyBytes  = 1 << 20 // aiohttp's client_max_size
	guestHistory  = 20      // reservations remembered per guest (target.py's deque maxlen)
)

func roomTypeOf(code string) (roomType, bool) {
	for _, rt := range roomTypes {
		if rt.code == code {
			return rt, true
		}
	}
	return roomType{}, false
}

// faults: what to inject into /api/* responses.
type faults struct {
	LatencyMS       pyFloat `json:"latency_ms"`
	LatencyFraction pyFloat `json:"latency_fraction"`
	ErrorRate       pyFloat `json:"error_rate"`
}

func (f faults) check() error { return f.checkShown(nil) }

// checkShown: `shown` spells values as the client sent them (Python's str() of the JSON value).
func (f faults) checkShown(shown map[string]string) error {
	show := func(name string, v pyFloat) string {
		if s, ok := shown[name]; ok {
			return s
		}
		return formatFloat(float64(v))
	}
	for _, v := range []struct {
		name  string
		value pyFloat
	}{{"latency_fraction", f.LatencyFraction}, {"error_rate", f.ErrorRate}} {
		if !(v.value >= 0 && v.value <= 1) {
			return fmt.Errorf("%s must be within 0..1, got %s", v.name, show(v.name, v.value))
		}
	}
	if f.LatencyMS < 0 || math.IsNaN(float64(f.LatencyMS)) {
		return fmt.Errorf("latency_ms must be >= 0, got %s", show("latency_ms", f.LatencyMS))
	}
	return nil
}

// spread picks exactly `fraction` of calls, evenly spread (deterministic, no RNG flakiness).
type spread struct{ count int64 }

func (s *spread) hit(fraction float64) bool {
	s.count++
	return math.Floor(float64(s.count)*fraction) != math.Floor(float64(s.count-1)*fraction)
}

type money struct {
	Currency any     `json:"currency"`
	Amount   pyFloat `json:"amount"`
}

type reservation struct {
	ID              string `json:"id"`
	GuestID         string `json:"guest_id"`
	RoomType        string `json:"room_type"`
	CheckIn         string `json:"check_in"`
	CheckOut        string `json:"check_out"`
	Nights          int64  `json:"nights"`
	Adults          any    `json:"adults"`
	Status          string `json:"status"`
	InvoiceID       string `json:"invoice_id"`
	SpecialRequests any    `json:"special_requests"`
	Total           money  `json:"total"`
}

// settings: a JSON object that keeps its keys' order (a Python dict).
type settings struct {
	keys []string
	vals map[string]any
}

func (s *settings) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		val, err := json.Marshal(s.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

type gateway struct {
	metrics *httpMetrics // nil: /metrics is off
	workUS  int64        // CPU burnt per /api/* request

	mu              sync.Mutex
	faults          faults
	requests        int64
	errorsInjected  int64
	delayed         int64
	lat, err        spread
	nextID          int64
	maxReservations int
	reservations    map[string]*reservation
	order           []string // reservation ids, oldest first, from order[head]
	head            int
	byGuest         map[string][]string
	settings        *settings
	roomsBody       []byte
	tasksBody       []byte
}

func newGateway(f faults, m *httpMetrics, workUS int64, maxReservations int) *gateway {
	g := &gateway{
		metrics: m, workUS: workUS, faults: f, nextID: 1, maxReservations: maxReservations,
		reservations: map[string]*reservation{}, byGuest: map[string][]string{},
		settings: &settings{
			keys: []string{"property_id", "name", "currency", "timezone", "check_in_time",
				"check_out_time", "overbooking_percent", "cancellation_hours", "tax_percent"},
			vals: map[string]any{
				"property_id": "prop-001", "name": "Tartware Harbour Hotel", "currency": "EUR",
				"timezone": "Europe/Lisbon", "check_in_time": "15:00", "check_out_time": "11:00",
				"overbooking_percent": intNum(3), "cancellation_hours": intNum(48), "tax_percent": pyFloat(6.0),
			},
		},
	}
	type room struct {
		Number       string `json:"number"`
		Floor        int    `json:"floor"`
		Type         string `json:"type"`
		Name         string `json:"name"`
		MaxOccupancy int    `json:"max_occupancy"`
		Status       string `json:"status"`
	}
	type task struct {
		ID       string `json:"id"`
		Room     string `json:"room"`
		Kind     string `json:"kind"`
		Status   string `json:"status"`
		Priority string `json:"priority"`
	}
	var rooms []room
	for floor := 1; floor <= 5; floor++ {
		for j, rt := range roomTypes {
			i := j + 1
			rooms = append(rooms, room{fmt.Sprintf("%d%02d", floor, i), floor, rt.code, rt.name, rt.occ,
				[]string{"clean", "dirty", "inspected"}[(floor+i)%3]})
		}
	}
	tasks := make([]task, len(rooms))
	for i, r := range rooms {
		tasks[i] = task{fmt.Sprintf("hk-%d", i), r.Number, []string{"clean", "turndown", "inspect"}[i%3], "pending",
			[]string{"low", "normal", "high"}[i%3]}
	}
	// Static payloads are serialised once: the target must stay cheap per request.
	g.roomsBody, _ = json.Marshal(map[string]any{"items": rooms, "total": len(rooms)})
	g.tasksBody, _ = json.Marshal(map[string]any{"items": tasks, "total": len(tasks)})
	return g
}

// reply is one HTTP answer.
type reply struct {
	status int
	body   []byte
	ctype  string
	allow  string // 405 only
}

func jsonReply(status int, v any) reply {
	body, err := json.Marshal(v)
	if err != nil {
		return textReply(500, "500 Internal Server Error\n\nServer got itself in trouble")
	}
	return reply{status: status, body: body, ctype: "application/json"}
}

func problem(status int, detail string) reply {
	type p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	return jsonReply(status, p{status, detail})
}

func textReply(status int, text string) reply {
	return reply{status: status, body: []byte(text), ctype: "text/plain; charset=utf-8"}
}

// request: what a route handler sees.
type request struct {
	r     *http.Request
	id    string // the {id} of the route
	query url.Values
	body  []byte
	read  error // reading the body failed (too large)
}

// json is aiohttp's `await request.json()`.
func (q *request) json() (any, error) {
	return decodeJSON(q.body)
}

type handler func(*gateway, *request) (reply, error)

type route struct {
	method  string
	pattern []string // path segments; "{id}" matches one non-empty segment
	handle  handler
}

var routes = []route{
	{"GET", split("/healthz"), (*gateway).healthz},
	{"GET", split("/metrics"), (*gateway).metricsText},
	{"GET", split("/_admin/stats"), (*gateway).adminStats},
	{"POST", split("/_admin/faults"), (*gateway).adminFaults},
	{"GET", split("/api/v1/availability"), (*gateway).availability},
	{"GET", split("/api/v1/rooms"), (*gateway).rooms},
	{"GET", split("/api/v1/reservations"), (*gateway).listReservations},
	{"POST", split("/api/v1/reservations"), (*gateway).createReservation},
	{"GET", split("/api/v1/reservations/{id}"), (*gateway).getReservation},
	{"PATCH", split("/api/v1/reservations/{id}"), (*gateway).modifyReservation},
	{"DELETE", split("/api/v1/reservations/{id}"), (*gateway).cancelReservation},
	{"GET", split("/api/v1/guests/{id}"), (*gateway).guest},
	{"GET", split("/api/v1/billing/invoices/{id}"), (*gateway).invoice},
	{"GET", split("/api/v1/housekeeping/tasks"), (*gateway).housekeeping},
	{"GET", split("/api/v1/settings"), (*gateway).getSettings},
	{"PATCH", split("/api/v1/settings"), (*gateway).patchSettings},
}

func split(path string) []string { return strings.Split(strings.TrimPrefix(path, "/"), "/") }

// resolve finds the route: a handler, or the 404/405 aiohttp's router answers.
func resolve(method, path string) (handler, string, reply) {
	segs := split(path)
	var allowed []string
	for _, rt := range routes {
		if len(rt.pattern) != len(segs) {
			continue
		}
		id, ok := "", true
		for i, p := range rt.pattern {
			if p == "{id}" {
				if segs[i] == "" {
					ok = false
					break
				}
				id = segs[i]
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if rt.method == method || (rt.method == "GET" && method == "HEAD") {
			return rt.handle, id, reply{}
		}
		allowed = append(allowed, rt.method)
		if rt.method == "GET" {
			allowed = append(allowed, "HEAD")
		}
	}
	if allowed != nil {
		slices.Sort(allowed)
		r := textReply(405, "405: Method Not Allowed")
		r.allow = strings.Join(allowed, ",")
		return nil, "", r
	}
	return nil, "", textReply(404, "404: Not Found")
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, id, miss := resolve(r.Method, r.URL.Path)
	q := &request{r: r, id: id, query: r.URL.Query()}
	run := func() reply {
		if h == nil {
			return miss
		}
		return g.call(h, q, w)
	}
	var rep reply
	if strings.HasPrefix(r.URL.Path, "/api/") {
		began := time.Now()
		rep = g.api(r, run)
		if g.metrics != nil {
			g.metrics.observe(rep.status, time.Since(began).Seconds())
		}
	} else {
		rep = run()
	}
	hdr := w.Header()
	hdr.Set("Content-Type", rep.ctype)
	hdr.Set("Content-Length", fmt.Sprint(len(rep.body)))
	if rep.allow != "" {
		hdr.Set("Allow", rep.allow)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// call reads the body (bounded), runs the handler and maps its errors as aiohttp does.
func (g *gateway) call(h handler, q *request, w http.ResponseWriter) reply {
	if q.r.Body != nil {
		q.body, q.read = io.ReadAll(http.MaxBytesReader(w, q.r.Body, maxBodyBytes))
		var tooLarge *http.MaxBytesError
		if errors.As(q.read, &tooLarge) {
			return textReply(413, fmt.Sprintf("413: Maximum request body size %d exceeded", maxBodyBytes))
		}
	}
	rep, err := h(g, q)
	var ve *valueError
	switch {
	case err == nil:
		return rep
	case errors.As(err, &ve) && strings.HasPrefix(q.r.URL.Path, "/api/"):
		return problem(422, ve.msg)
	default:
		return textReply(500, "500 Internal Server Error\n\nServer got itself in trouble")
	}
}

// api is target.py's middleware for /api/*: count, burn CPU, delay, fail.
func (g *gateway) api(r *http.Request, run func() reply) reply {
	g.mu.Lock()
	g.requests++
	f := g.faults
	delay := f.LatencyMS > 0 && g.lat.hit(float64(f.LatencyFraction))
	if delay {
		g.delayed++
	}
	g.mu.Unlock()
	burn(g.workUS)
	if delay {
		t := time.NewTimer(time.Duration(float64(f.LatencyMS) * float64(time.Millisecond)))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	g.mu.Lock()
	fail := f.ErrorRate > 0 && g.err.hit(float64(f.ErrorRate))
	if fail {
		g.errorsInjected++
	}
	g.mu.Unlock()
	if fail {
		return problem(500, "injected fault")
	}
	return run()
}

// --- health and admin -------------------------------------------------------------------------

func (g *gateway) healthz(*request) (reply, error) {
	return jsonReply(200, map[string]string{"status": "ok"}), nil
}

func (g *gateway) metricsText(*request) (reply, error) {
	if g.metrics == nil {
		return problem(404, "metrics are off (start the target with --metrics REQUESTS,LATENCY)"), nil
	}
	return textReply(200, g.metrics.render()), nil
}

func (g *gateway) adminStats(*request) (reply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	type stats struct {
		Requests       int64  `json:"requests"`
		ErrorsInjected int64  `json:"errors_injected"`
		Delayed        int64  `json:"delayed"`
		Reservations   int    `json:"reservations"`
		Faults         faults `json:"faults"`
	}
	return jsonReply(200, stats{g.requests, g.errorsInjected, g.delayed, len(g.reservations), g.faults}), nil
}

func (g *gateway) adminFaults(q *request) (reply, error) {
	bad := func(msg string) (reply, error) { return problem(400, "bad faults: "+msg), nil }
	body, err := q.json()
	if err != nil {
		return bad(err.Error())
	}
	changes, ok := body.(map[string]any)
	if !ok {
		return bad(fmt.Sprintf("'%s' object is not a mapping", pyTypeName(body)))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	next := g.faults
	fields := map[string]*pyFloat{
		"latency_ms": &next.LatencyMS, "latency_fraction": &next.LatencyFraction, "error_rate": &next.ErrorRate,
	}
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	shown := map[string]string{}
	for _, k := range keys {
		dst, known := fields[k]
		if !known {
			return bad(fmt.Sprintf("Faults.__init__() got an unexpected keyword argument %s", pyRepr(k)))
		}
		switch v := changes[k].(type) {
		case pyNum:
			*dst = pyFloat(v.float())
		case bool:
			*dst = 0
			if v {
				*dst = 1
			}
		default:
			return bad(fmt.Sprintf("%s must be a number, got %s", k, pyReprValue(v)))
		}
		shown[k] = pyStr(changes[k])
	}
	if err := next.checkShown(shown); err != nil {
		return bad(err.Error())
	}
	g.faults = next
	return jsonReply(200, next), nil
}

func pyTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case []any:
		return "list"
	case pyNum:
		if v.(pyNum).isInt {
			return "int"
		}
		return "float"
	}
	return "dict"
}

// --- API -----------------------------------------------------------------------------------------

// dateArg is target.py's _date for a value from a query (string) or a JSON body (any).
func dateArg(raw any, field string) (date, error) {
	if !truthy(raw) {
		return date{}, valueErrorf("%s is required (YYYY-MM-DD)", field)
	}
	s, ok := raw.(string)
	if !ok {
		return date{}, &typeError{"fromisoformat: argument must be str"}
	}
	d, ok := fromISOFormat(s)
	if !ok {
		return date{}, valueErrorf("%s %s is not a YYYY-MM-DD date", field, pyRepr(s))
	}
	return d, nil
}

func stay(checkInRaw, checkOutRaw any) (date, date, int64, error) {
	in, err := dateArg(checkInRaw, "check_in")
	if err != nil {
		return date{}, date{}, 0, err
	}
	out, err := dateArg(checkOutRaw, "check_out")
	if err != nil {
		return date{}, date{}, 0, err
	}
	nights := in.daysUntil(out)
	if nights < 1 || nights > maxStayNights {
		return date{}, date{}, 0, valueErrorf("stay must be 1..%d nights, got %d", maxStayNights, nights)
	}
	return in, out, nights, nil
}

// queryArg is aiohttp's request.query.get(key): the first value, nil when absent.
func queryArg(q url.Values, key string) any {
	if v, ok := q[key]; ok && len(v) > 0 {
		return v[0]
	}
	return nil
}

// intArg: the first value of a query parameter as target.py's int() reads it, `fallback` when absent.
func intArg(q url.Values, key, fallback string) (*big.Int, error) {
	if v, ok := q[key]; ok && len(v) > 0 {
		return parseInt(v[0])
	}
	return parseInt(fallback)
}

func (g *gateway) availability(q *request) (reply, error) {
	in, out, nights, err := stay(queryArg(q.query, "check_in"), queryArg(q.query, "check_out"))
	if err != nil {
		return reply{}, err
	}
	guests, err := intArg(q.query, "guests", "2")
	if err != nil {
		return reply{}, err
	}
	g.mu.Lock()
	currency, property := g.settings.vals["currency"], g.settings.vals["property_id"]
	g.mu.Unlock()
	type price struct {
		Currency any     `json:"currency"`
		Nightly  pyFloat `json:"nightly"`
		Total    pyFloat `json:"total"`
	}
	type offer struct {
		RoomType     string `json:"room_type"`
		Name         string `json:"name"`
		Available    int64  `json:"available"`
		MaxOccupancy int    `json:"max_occupancy"`
		RatePlan     string `json:"rate_plan"`
		Refundable   bool   `json:"refundable"`
		Price        price  `json:"price"`
	}
	seed := in.ordinal()
	offers := []offer{}
	for i, rt := range roomTypes {
		if big.NewInt(int64(rt.occ)).Cmp(guests) < 0 {
			continue
		}
		factor := 1.0
		if in.weekday() >= 4 {
			factor = 1.25
		}
		nightly := round2(rt.rate * factor)
		offers = append(offers, offer{rt.code, rt.name, (seed * int64(i+3)) % 17, rt.occ, "BAR", i%2 == 0,
			price{currency, pyFloat(nightly), pyFloat(round2(nightly * float64(nights)))}})
	}
	type answer struct {
		CheckIn    string      `json:"check_in"`
		CheckOut   string      `json:"check_out"`
		Nights     int64       `json:"nights"`
		Guests     json.Number `json:"guests"`
		PropertyID any         `json:"property_id"`
		Offers     []offer     `json:"offers"`
	}
	return jsonReply(200, answer{in.String(), out.String(), nights, json.Number(guests.String()), property, offers}), nil
}

func (g *gateway) rooms(*request) (reply, error) {
	return reply{status: 200, body: g.roomsBody, ctype: "application/json"}, nil
}

func (g *gateway) housekeeping(*request) (reply, error) {
	return reply{status: 200, body: g.tasksBody, ctype: "application/json"}, nil
}

// guestNumber: the n of "g-<n>", nil when not a guest id.
func idNumber(id, prefix string) *big.Int {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || !digitsOnly(rest) {
		return nil
	}
	n, _ := new(big.Int).SetString(rest, 10)
	return n
}

type guestRecord struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	Loyalty   struct {
		Tier   string `json:"tier"`
		Points int64  `json:"points"`
	} `json:"loyalty"`
	Preferences struct {
		Floor     string `json:"floor"`
		Pillow    string `json:"pillow"`
		Newspaper bool   `json:"newspaper"`
	} `json:"preferences"`
	Address struct {
		City    string `json:"city"`
		Country string `json:"country"`
	} `json:"address"`
}

func guestOf(id string) *guestRecord {
	n := idNumber(id, "g-")
	if n == nil {
		return nil
	}
	g := &guestRecord{
		ID:        id,
		FirstName: fmt.Sprintf("Guest%d", mod(n, 997)),
		LastName:  fmt.Sprintf("Traveller%d", mod(n, 131)),
		Email:     fmt.Sprintf("guest%s@example.test", n),
		Phone:     fmt.Sprintf("+1-555-%04d", mod(n, 10000)),
	}
	g.Loyalty.Tier = []string{"none", "silver", "gold", "platinum"}[mod(n, 4)]
	g.Loyalty.Points = (mod(n, 50000) * 37) % 50000
	g.Preferences.Floor = "low"
	if mod(n, 2) == 1 {
		g.Preferences.Floor = "high"
	}
	g.Preferences.Pillow = "foam"
	g.Preferences.Newspaper = mod(n, 3) == 0
	g.Address.City = []string{"Lisbon", "Austin", "Osaka", "Cape Town"}[mod(n, 4)]
	g.Address.Country = "XX"
	return g
}

func (g *gateway) createReservation(q *request) (reply, error) {
	raw, err := q.json()
	if err != nil {
		return problem(400, "body is not JSON"), nil
	}
	body, ok := raw.(map[string]any)
	if !ok {
		return problem(422, "body must be a JSON object"), nil
	}
	get := func(key string, fallback any) any {
		if v, ok := body[key]; ok {
			return v
		}
		return fallback
	}
	guestID := pyStr(get("guest_id", ""))
	if guestOf(guestID) == nil {
		return problem(422, "unknown guest_id "+pyRepr(guestID)), nil
	}
	code := pyStr(get("room_type", ""))
	rt, ok := roomTypeOf(code)
	if !ok {
		codes := make([]string, len(roomTypes))
		for i, t := range roomTypes {
			codes[i] = t.code
		}
		slices.Sort(codes)
		return problem(422, "room_type must be one of "+pyListRepr(codes)), nil
	}
	in, out, nights, err := stay(get("check_in", nil), get("check_out", nil))
	if err != nil {
		return reply{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nextID
	g.nextID++ // as target.py: the id is taken before `adults` is read
	adults, err := toInt(get("adults", intNum(2)))
	if err != nil {
		return reply{}, err
	}
	rid := fmt.Sprintf("rsv-%d", n)
	rsv := &reservation{
		ID: rid, GuestID: guestID, RoomType: rt.code, CheckIn: in.String(), CheckOut: out.String(),
		Nights: nights, Adults: pyNum{isInt: true, i: adults}, Status: "confirmed",
		InvoiceID: fmt.Sprintf("inv-%d", n), SpecialRequests: "",
		Total: money{g.settings.vals["currency"], pyFloat(round2(rt.rate * float64(nights)))},
	}
	g.reservations[rid] = rsv
	g.order = append(g.order, rid)
	hist := append(g.byGuest[guestID], rid)
	if len(hist) > guestHistory {
		hist = hist[len(hist)-guestHistory:]
	}
	g.byGuest[guestID] = hist
	if len(g.reservations) > g.maxReservations {
		g.evictOldest()
	}
	return jsonReply(201, rsv), nil
}

// evictOldest keeps memory bounded: the oldest reservation goes, and with it its guest's
// oldest entry (always the front of that guest's history), so guests stay bounded too.
func (g *gateway) evictOldest() {
	rid := g.order[g.head]
	g.order[g.head] = ""
	g.head++
	if g.head >= 4096 && g.head*2 >= len(g.order) {
		g.order = slices.Clone(g.order[g.head:])
		g.head = 0
	}
	rsv := g.reservations[rid]
	delete(g.reservations, rid)
	if hist := g.byGuest[rsv.GuestID]; len(hist) > 0 && hist[0] == rid {
		if len(hist) == 1 {
			delete(g.byGuest, rsv.GuestID)
		} else {
			g.byGuest[rsv.GuestID] = hist[1:]
		}
	}
}

func (g *gateway) getReservation(q *request) (reply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rsv := g.reservations[q.id]; rsv != nil {
		return jsonReply(200, rsv), nil
	}
	return problem(404, "no such reservation"), nil
}

func (g *gateway) listReservations(q *request) (reply, error) {
	n, err := intArg(q.query, "limit", "20")
	if err != nil {
		return reply{}, err
	}
	limit := int(clampInt(n, 1, 100))
	guestID := q.query.Get("guest_id")
	g.mu.Lock()
	defer g.mu.Unlock()
	items := []*reservation{}
	if guestID != "" {
		hist := g.byGuest[guestID]
		for _, id := range hist[max(0, len(hist)-limit):] {
			if rsv := g.reservations[id]; rsv != nil {
				items = append(items, rsv)
			}
		}
	} else {
		for i := len(g.order) - 1; i >= g.head && len(items) < limit; i-- {
			items = append(items, g.reservations[g.order[i]])
		}
	}
	return jsonReply(200, map[string]any{"items": items, "total": len(items)}), nil
}

func (g *gateway) modifyReservation(q *request) (reply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rsv := g.reservations[q.id]
	if rsv == nil {
		return problem(404, "no such reservation"), nil
	}
	if rsv.Status == "cancelled" {
		return problem(409, "reservation is cancelled"), nil
	}
	raw, err := q.json()
	if err != nil {
		return reply{}, &valueError{err.Error()}
	}
	changes, ok := raw.(map[string]any)
	if !ok {
		return problem(422, "body must be a JSON object"), nil
	}
	if co, ok := changes["check_out"]; ok {
		_, out, nights, err := stay(rsv.CheckIn, co)
		if err != nil {
			return reply{}, err
		}
		rt, _ := roomTypeOf(rsv.RoomType)
		rsv.CheckOut, rsv.Nights = out.String(), nights
		rsv.Total.Amount = pyFloat(round2(rt.rate * float64(nights)))
	}
	if v, ok := changes["adults"]; ok {
		rsv.Adults = v
	}
	if v, ok := changes["special_requests"]; ok {
		rsv.SpecialRequests = v
	}
	return jsonReply(200, rsv), nil
}

func (g *gateway) cancelReservation(q *request) (reply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rsv := g.reservations[q.id]
	if rsv == nil {
		return problem(404, "no such reservation"), nil
	}
	rsv.Status = "cancelled"
	return jsonReply(200, rsv), nil
}

func (g *gateway) guest(q *request) (reply, error) {
	if rec := guestOf(q.id); rec != nil {
		return jsonReply(200, rec), nil
	}
	return problem(404, "no such guest"), nil
}

// number is a Python number's float value (bool is an int in Python); TypeError otherwise.
func number(v any) (float64, error) {
	switch x := v.(type) {
	case pyNum:
		return x.float(), nil
	case pyFloat:
		return float64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, &typeError{"unsupported operand type(s)"}
}

func (g *gateway) invoice(q *request) (reply, error) {
	n := idNumber(q.id, "inv-")
	if n == nil {
		return problem(404, "no such invoice"), nil
	}
	g.mu.Lock()
	currency, taxRaw := g.settings.vals["currency"], g.settings.vals["tax_percent"]
	g.mu.Unlock()
	taxPercent, err := number(taxRaw)
	if err != nil {
		return reply{}, err
	}
	type line struct {
		Description string  `json:"description"`
		Quantity    int64   `json:"quantity"`
		UnitPrice   pyFloat `json:"unit_price"`
	}
	room := round2(129.0 + float64(mod(n, 5))*40)
	lines := []line{{"Room night", 1 + mod(n, 4), pyFloat(room)}, {"Breakfast", 2, 18.5}, {"City tax", 1, 4.0}}
	sum := 0.0
	for _, l := range lines {
		sum += float64(l.Quantity) * float64(l.UnitPrice)
	}
	net := round2(sum)
	tax := round2(net * taxPercent / 100)
	type invoiceDoc struct {
		ID            string  `json:"id"`
		ReservationID string  `json:"reservation_id"`
		Currency      any     `json:"currency"`
		Lines         []line  `json:"lines"`
		Net           pyFloat `json:"net"`
		Tax           pyFloat `json:"tax"`
		Gross         pyFloat `json:"gross"`
		Status        string  `json:"status"`
	}
	return jsonReply(200, invoiceDoc{q.id, "rsv-" + n.String(), currency, lines, pyFloat(net), pyFloat(tax),
		pyFloat(round2(net + tax)), []string{"open", "paid"}[mod(n, 2)]}), nil
}

func (g *gateway) getSettings(*request) (reply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return jsonReply(200, g.settings), nil
}

func (g *gateway) patchSettings(q *request) (reply, error) {
	raw, err := q.json()
	if err != nil {
		return reply{}, &valueError{err.Error()}
	}
	changes, ok := raw.(map[string]any)
	if !ok {
		return problem(422, "body must be a JSON object"), nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var unknown []string
	for k := range changes {
		if _, known := g.settings.vals[k]; !known || k == "property_id" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return problem(422, "read-only or unknown settings: "+pyListRepr(unknown)), nil
	}
	for k, v := range changes {
		g.settings.vals[k] = v
	}
	return jsonReply(200, g.settings), nil
}
