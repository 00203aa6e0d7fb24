// Package clouddnstest is a fake of the Google Cloud DNS v1 REST API for one
// managed zone, written from the public API reference, for tests that run
// the real client (google.golang.org/api/dns/v1) without a cloud account.
//
// It keeps the semantics the provider relies on:
//
//   - Changes.Create is atomic: deletions are checked first and must
//     match the live RRset exactly (name, type, TTL, every rrdata) or the
//     whole Change is refused with 412 conditionNotMet (404 notFound when
//     the RRset does not exist); additions must not exist (409
//     alreadyExists). Deletions are applied before additions, so one
//     Change may delete and re-add the same RRset.
//   - The per-Change limits rrsetAdditionsPerChange and
//     rrsetDeletionsPerChange: a larger Change is refused whole with 400
//     quotaExceeded (see [Server.SetLimits]).
//   - ResourceRecordSets.List pages with maxResults/pageToken and filters
//     by name and type.
//   - Changes.Get reports "pending" for a configurable number of polls,
//     then "done".
//   - Errors use Google's JSON error body.
//
// It injects faults (next N requests fail with a status, a Change applied
// but its answer lost, latency, a hook run just before a Change is
// applied to modify the zone concurrently) and serves the zone's current
// content over DNS on loopback (UDP and TCP) so that verification by
// query works end to end.
package clouddnstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/zone"
)

// Default limits, as Cloud DNS documents its default quotas.
const (
	DefaultAdditionsPerChange = 1000
	DefaultDeletionsPerChange = 1000
	// RrdataBytesPerChange is the totalRrdataSizePerChange limit.
	RrdataBytesPerChange = 100000
	// DefaultPageSize is the page size when the client asks for none or
	// more than the fake serves in one page. It is small so that tests
	// exercise paging.
	DefaultPageSize = 100
)

// Request is one HTTP request the fake received.
type Request struct {
	Method string
	// Path is the URL path, e.g. /dns/v1/projects/p/managedZones/z/changes.
	Path string
	// Query is the raw query string.
	Query string
	// Body is the request body.
	Body []byte
	// Authorization is the Authorization header.
	Authorization string
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	project, managedZone, origin string

	http *httptest.Server
	dns  *providertest.ZoneServer

	mu         sync.Mutex
	sets       map[zone.Key]zone.RRset
	text       map[zone.Key][]string // rrdatas as written, served by List
	textual    bool
	serial     uint32
	changes    map[string]*change
	nextChange int
	writes     int
	requests   []Request

	// fault knobs
	failN         int
	failCode      int
	failReason    string
	failRetry     int
	everyN        int
	everyCode     int
	everyReason   string
	seen          int
	loseN         int
	loseCode      int
	latency       time.Duration
	beforeChange  func()
	pendingPolls  int
	pageSize      int
	maxAdditions  int
	maxDeletions  int
	token         string
	tokenRequests int
}

type change struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Status    string     `json:"status"`
	StartTime string     `json:"startTime"`
	Additions []apiRRset `json:"additions,omitempty"`
	Deletions []apiRRset `json:"deletions,omitempty"`
	polls     int
}

// apiRRset is the JSON form of a ResourceRecordSet.
type apiRRset struct {
	Kind    string   `json:"kind,omitempty"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     *int64   `json:"ttl,omitempty"`
	Rrdatas []string `json:"rrdatas,omitempty"`
}

// Start starts a fake of managed zone managedZone of project, serving
// origin (a DNS name), with only the apex SOA and NS records.
func Start(project, managedZone, origin string) (*Server, error) {
	o, err := zone.CanonicalName(origin)
	if err != nil {
		return nil, fmt.Errorf("fake: origin: %w", err)
	}
	s := &Server{
		project: project, managedZone: managedZone, origin: o,
		changes:      map[string]*change{},
		pendingPolls: 1,
		pageSize:     DefaultPageSize,
		maxAdditions: DefaultAdditionsPerChange,
		maxDeletions: DefaultDeletionsPerChange,
	}
	s.Reset()
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	if s.dns, err = providertest.ServeZone(s.content); err != nil {
		s.http.Close()
		return nil, fmt.Errorf("fake: %w", err)
	}
	return s, nil
}

// Close stops the HTTP and DNS servers.
func (s *Server) Close() {
	s.http.Close()
	_ = s.dns.Close()
}

// URL is the API endpoint to give the client (option.WithEndpoint),
// with a trailing slash.
func (s *Server) URL() string { return s.http.URL + "/" }

// TokenURL is an OAuth2 token endpoint: it hands out the token set by
// [Server.RequireToken] to any JWT-bearer grant.
func (s *Server) TokenURL() string { return s.http.URL + "/token" }

// RefusingTokenURL is an OAuth2 token endpoint that refuses every grant
// as Google does a revoked key (400 invalid_grant).
func (s *Server) RefusingTokenURL() string { return s.http.URL + "/token-refused" }

// DNSAddr is the host:port the zone is served on (UDP and TCP).
func (s *Server) DNSAddr() string { return s.dns.Addr() }

// Origin returns the zone's DNS name.
func (s *Server) Origin() string { return s.origin }

// Reset makes the zone hold only its SOA and NS records and forgets
// changes, counters and faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serial = 1
	s.sets = map[zone.Key]zone.RRset{}
	s.text = map[zone.Key][]string{}
	s.textual = false
	ns := zone.MustRRset(s.origin, dns.TypeNS, 21600, "ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com.")
	s.sets[ns.Key()] = ns
	s.putSOA()
	s.failN, s.everyN, s.loseN, s.latency, s.beforeChange = 0, 0, 0, 0, nil
}

func (s *Server) putSOA() {
	soa := zone.MustRRset(s.origin, dns.TypeSOA, 21600,
		fmt.Sprintf("ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. %d 21600 3600 259200 300", s.serial))
	s.sets[soa.Key()] = soa
	s.text[soa.Key()] = soa.Data
}

// Put sets RRsets directly, as another writer would; a set with no data
// deletes the RRset. It does not count as a write.
func (s *Server) Put(sets ...zone.RRset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range sets {
		if set.Empty() {
			delete(s.sets, set.Key())
			delete(s.text, set.Key())
		} else {
			s.sets[set.Key()] = set.Clone()
			s.text[set.Key()] = slices.Clone(set.Data)
		}
	}
}

// PutRaw sets one RRset directly with its rrdatas spelled as given (e.g.
// "2001:DB8:0::1"), as another tool might have written them; List
// returns that spelling.
func (s *Server) PutRaw(name string, typ uint16, ttl uint32, rrdatas ...string) error {
	set, err := zone.NewRRset(name, typ, ttl, rrdatas...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets[set.Key()] = set
	s.text[set.Key()] = slices.Clone(rrdatas)
	return nil
}

// SetTextualDeletes makes a deletion match only when its rrdatas are
// spelled as the live RRset's (in any order), on top of being the same
// records: the strictest reading of Cloud DNS's exact-match rule.
func (s *Server) SetTextualDeletes(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.textual = on
}

// Dump returns every RRset of the zone, canonical and sorted.
func (s *Server) Dump() []zone.RRset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dumpLocked()
}

func (s *Server) dumpLocked() []zone.RRset {
	out := make([]zone.RRset, 0, len(s.sets))
	for _, set := range s.sets {
		out = append(out, set.Clone())
	}
	zone.SortRRsets(out)
	return out
}

// Writes returns how many Changes.Create requests arrived, whatever their
// outcome.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests returns the API requests received so far (token requests
// excluded).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// FailNext makes the next n API requests fail with HTTP status code and
// the given reason (e.g. 429 "rateLimitExceeded", 503
// "backendError"); retryAfter > 0 adds a Retry-After header in seconds.
func (s *Server) FailNext(n, code int, reason string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode, s.failReason, s.failRetry = n, code, reason, retryAfter
}

// FailEvery makes every nth API request fail with HTTP status code and
// reason, until [Server.Reset] (n 0: never).
func (s *Server) FailEvery(n, code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.everyN, s.everyCode, s.everyReason, s.seen = n, code, reason, 0
}

// LoseNextChanges makes the next n Changes.Create that succeed be applied
// and then answered with status code (a 5xx), as when the answer is lost.
func (s *Server) LoseNextChanges(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseN, s.loseCode = n, code
}

// SetLatency delays every API request by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// BeforeNextChange runs f once, just before the next Changes.Create is
// checked and applied, without the fake's lock: f may call [Server.Put]
// to modify the zone concurrently.
func (s *Server) BeforeNextChange(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeChange = f
}

// SetPendingPolls sets how many Changes.Get answers say "pending" before
// "done" (default 1).
func (s *Server) SetPendingPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pendingPolls = n
}

// SetPageSize sets the largest page ResourceRecordSets.List returns.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// SetLimits sets the per-Change addition and deletion limits.
func (s *Server) SetLimits(additions, deletions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxAdditions, s.maxDeletions = additions, deletions
}

// RequireToken makes every API request need "Authorization: Bearer tok"
// (401 otherwise); the token endpoint hands tok out.
func (s *Server) RequireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// TokenRequests returns how many token grants were served.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

// gError writes Google's JSON error body.
func gError(w http.ResponseWriter, code int, reason, msg string, retryAfter int) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(code)
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []map[string]string{{"domain": "global", "reason": reason, "message": msg}},
	}}
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		s.serveToken(w, r)
		return
	case "/token-refused":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body, Authorization: r.Header.Get("Authorization")})
	latency := s.latency
	token := s.token
	isWrite := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/changes")
	if isWrite {
		s.writes++
	}
	var fail bool
	var code, retry int
	var reason string
	s.seen++
	switch {
	case s.failN > 0:
		s.failN--
		fail, code, reason, retry = true, s.failCode, s.failReason, s.failRetry
	case s.everyN > 0 && s.seen%s.everyN == 0:
		fail, code, reason = true, s.everyCode, s.everyReason
	}
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		gError(w, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials.", 0)
		return
	}
	if fail {
		gError(w, code, reason, fmt.Sprintf("injected failure %d %s", code, reason), retry)
		return
	}

	prefix := "/dns/v1/projects/" + s.project + "/managedZones/" + s.managedZone
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		gError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The 'parameters.managedZone' resource named '%s' does not exist.", r.URL.Path), 0)
		return
	}
	switch {
	case rest == "" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"kind": "dns#managedZone", "name": s.managedZone, "dnsName": s.origin, "id": "4242",
			"nameServers": []string{"ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com."},
			"visibility":  "public",
		})
	case rest == "/rrsets" && r.Method == http.MethodGet:
		s.serveList(w, r)
	case rest == "/changes" && r.Method == http.MethodPost:
		s.serveCreate(w, body)
	case strings.HasPrefix(rest, "/changes/") && r.Method == http.MethodGet:
		s.serveGetChange(w, strings.TrimPrefix(rest, "/changes/"))
	default:
		gError(w, http.StatusNotFound, "notFound", "Not Found", 0)
	}
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.PostForm.Get("assertion") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "bad grant"})
		return
	}
	s.mu.Lock()
	tok := s.token
	s.tokenRequests++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	all := s.dumpLocked()
	text := make(map[zone.Key][]string, len(s.text))
	for k, v := range s.text {
		text[k] = v
	}
	size := s.pageSize
	s.mu.Unlock()
	if n, err := strconv.Atoi(q.Get("maxResults")); err == nil && n > 0 && n < size {
		size = n
	}
	name, typ := q.Get("name"), q.Get("type")
	if typ != "" && name == "" {
		gError(w, http.StatusBadRequest, "invalid", "Invalid value for 'parameters.type': a type filter needs a name filter.", 0)
		return
	}
	var sel []zone.RRset
	for _, set := range all {
		if name != "" && !strings.EqualFold(dns.Fqdn(name), set.Name) {
			continue
		}
		if typ != "" && !strings.EqualFold(typ, zone.TypeString(set.Type)) {
			continue
		}
		sel = append(sel, set)
	}
	// The page token is the key of the last RRset returned: a listing
	// survives changes between pages, without being a snapshot.
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		start = afterToken(sel, tok)
	}
	end := min(start+size, len(sel))
	resp := map[string]any{"kind": "dns#resourceRecordSetsListResponse"}
	out := make([]apiRRset, 0, end-start)
	for _, set := range sel[start:end] {
		a := toAPI(set)
		if t, ok := text[set.Key()]; ok {
			a.Rrdatas = slices.Clone(t)
		}
		out = append(out, a)
	}
	resp["rrsets"] = out
	if end < len(sel) {
		resp["nextPageToken"] = sel[end-1].Key().String()
	}
	writeJSON(w, http.StatusOK, resp)
}

// afterToken returns the index of the first set after the key the token
// names, in the listing's order.
func afterToken(sel []zone.RRset, tok string) int {
	name, typ, _ := strings.Cut(tok, " ")
	t, _ := zone.ParseType(typ)
	k := zone.Key{Name: name, Type: t}
	for i, set := range sel {
		if k.Less(set.Key()) {
			return i
		}
	}
	return len(sel)
}

func toAPI(set zone.RRset) apiRRset {
	ttl := int64(set.TTL)
	return apiRRset{Kind: "dns#resourceRecordSet", Name: set.Name, Type: zone.TypeString(set.Type), TTL: &ttl, Rrdatas: slices.Clone(set.Data)}
}

// fromAPI parses one RRset of a request; what Cloud DNS would refuse as
// malformed is an error.
func fromAPI(a apiRRset) (zone.RRset, error) {
	typ, ok := zone.ParseType(a.Type)
	if !ok {
		return zone.RRset{}, fmt.Errorf("unknown type %q", a.Type)
	}
	if a.TTL == nil {
		return zone.RRset{}, errors.New("missing ttl")
	}
	if *a.TTL < 0 || *a.TTL > zone.MaxTTL {
		return zone.RRset{}, fmt.Errorf("ttl %d out of range", *a.TTL)
	}
	if len(a.Rrdatas) == 0 {
		return zone.RRset{}, errors.New("no rrdatas")
	}
	if !strings.HasSuffix(a.Name, ".") {
		return zone.RRset{}, fmt.Errorf("name %q is not fully qualified", a.Name)
	}
	return zone.NewRRset(a.Name, typ, uint32(*a.TTL), a.Rrdatas...)
}

func (s *Server) serveCreate(w http.ResponseWriter, body []byte) {
	var req struct {
		Additions []apiRRset `json:"additions"`
		Deletions []apiRRset `json:"deletions"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&req); err != nil {
		gError(w, http.StatusBadRequest, "parseError", "Parse Error", 0)
		return
	}
	parse := func(field string, in []apiRRset) ([]zone.RRset, bool) {
		out := make([]zone.RRset, 0, len(in))
		seen := map[zone.Key]bool{}
		for i, a := range in {
			set, err := fromAPI(a)
			if err != nil {
				gError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for 'entity.change.%s[%d]': %v", field, i, err), 0)
				return nil, false
			}
			if !zone.InZone(set.Name, s.origin) {
				gError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for 'entity.change.%s[%d].name': '%s' is not in zone %s", field, i, set.Name, s.origin), 0)
				return nil, false
			}
			if seen[set.Key()] {
				gError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("The resource 'entity.change.%s[%d]' is named twice in one change.", field, i), 0)
				return nil, false
			}
			seen[set.Key()] = true
			out = append(out, set)
		}
		return out, true
	}
	adds, ok := parse("additions", req.Additions)
	if !ok {
		return
	}
	dels, ok := parse("deletions", req.Deletions)
	if !ok {
		return
	}
	if len(adds)+len(dels) == 0 {
		gError(w, http.StatusBadRequest, "required", "The 'entity.change' parameter is required but was missing.", 0)
		return
	}

	s.mu.Lock()
	hook := s.beforeChange
	s.beforeChange = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(adds) > s.maxAdditions {
		gError(w, http.StatusBadRequest, "quotaExceeded", fmt.Sprintf("Quota exceeded for quota metric 'rrsetAdditionsPerChange': %d > %d", len(adds), s.maxAdditions), 0)
		return
	}
	if len(dels) > s.maxDeletions {
		gError(w, http.StatusBadRequest, "quotaExceeded", fmt.Sprintf("Quota exceeded for quota metric 'rrsetDeletionsPerChange': %d > %d", len(dels), s.maxDeletions), 0)
		return
	}
	size := 0
	for _, l := range [][]apiRRset{req.Additions, req.Deletions} {
		for _, a := range l {
			for _, d := range a.Rrdatas {
				size += len(d)
			}
		}
	}
	if size > RrdataBytesPerChange {
		gError(w, http.StatusBadRequest, "quotaExceeded", fmt.Sprintf("Quota exceeded for quota metric 'totalRrdataSizePerChange': %d > %d", size, RrdataBytesPerChange), 0)
		return
	}
	next := make(map[zone.Key]zone.RRset, len(s.sets))
	for k, v := range s.sets {
		next[k] = v
	}
	nextText := make(map[zone.Key][]string, len(s.text))
	for k, v := range s.text {
		nextText[k] = v
	}
	for i, d := range dels {
		cur, ok := next[d.Key()]
		if !ok {
			gError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The 'entity.change.deletions[%d]' resource named '%s (%s)' does not exist.", i, d.Name, zone.TypeString(d.Type)), 0)
			return
		}
		if !cur.Equal(d) || s.textual && !sameText(nextText[d.Key()], req.Deletions[i].Rrdatas) {
			gError(w, http.StatusPreconditionFailed, "conditionNotMet", fmt.Sprintf("Precondition not met for 'entity.change.deletions[%d]'", i), 0)
			return
		}
		delete(next, d.Key())
		delete(nextText, d.Key())
	}
	for i, a := range adds {
		if _, ok := next[a.Key()]; ok {
			gError(w, http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource 'entity.change.additions[%d]' named '%s (%s)' already exists", i, a.Name, zone.TypeString(a.Type)), 0)
			return
		}
		if msg := cnameClash(next, a); msg != "" {
			gError(w, http.StatusBadRequest, "cnameResourceRecordSetConflict", fmt.Sprintf("The resource 'entity.change.additions[%d]' named '%s (%s)' %s", i, a.Name, zone.TypeString(a.Type), msg), 0)
			return
		}
		next[a.Key()] = a
		nextText[a.Key()] = slices.Clone(req.Additions[i].Rrdatas)
	}
	s.sets = next
	s.text = nextText
	s.serial++
	s.putSOA()
	s.nextChange++
	c := &change{
		ID: strconv.Itoa(s.nextChange), Kind: "dns#change", Status: "pending",
		StartTime: time.Now().UTC().Format(time.RFC3339Nano),
		Additions: req.Additions, Deletions: req.Deletions,
	}
	if s.pendingPolls <= 0 {
		c.Status = "done"
	}
	s.changes[c.ID] = c
	if s.loseN > 0 {
		s.loseN--
		gError(w, s.loseCode, "backendError", "injected: change applied, answer lost", 0)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// sameText reports whether two rrdata lists hold the same strings in any
// order.
func sameText(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// cnameClash reports a CNAME sharing its name with other data, which
// Cloud DNS refuses.
func cnameClash(sets map[zone.Key]zone.RRset, a zone.RRset) string {
	for k := range sets {
		if k.Name != a.Name || k.Type == a.Type {
			continue
		}
		if a.Type == dns.TypeCNAME || k.Type == dns.TypeCNAME {
			return "conflicts with a CNAME at the same name"
		}
	}
	return ""
}

func (s *Server) serveGetChange(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.changes[id]
	if !ok {
		gError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The 'parameters.changeId' resource named '%s' does not exist.", id), 0)
		return
	}
	if c.Status == "pending" {
		c.polls++
		if c.polls > s.pendingPolls {
			c.Status = "done"
		}
	}
	writeJSON(w, http.StatusOK, c)
}

// content gives the zone's current RRsets to the DNS server.
func (s *Server) content(qname string) (string, map[zone.Key]zone.RRset, bool) {
	if !zone.InZone(qname, s.origin) {
		return "", nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.origin, maps.Clone(s.sets), true
}
