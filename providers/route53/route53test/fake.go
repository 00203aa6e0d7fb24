// Package route53test is an in-process fake of the Amazon Route 53 REST/XML API
// (version 2013-04-01), written from the public API reference, for tests
// that drive the real aws-sdk-go-v2 client against it.
//
// It implements the four operations switchboard calls, with the semantics
// compare-and-swap depends on:
//
//   - POST /2013-04-01/hostedzone/{Id}/rrset (ChangeResourceRecordSets):
//     the whole batch is validated against the zone before anything is
//     applied; DELETE must match name, type, TTL and every value exactly;
//     CREATE fails when the RRset exists; UPSERT replaces; deleting one
//     RRset twice in a batch fails; the request limits (1000
//     ResourceRecord elements, 32,000 characters of Value, UPSERT counted
//     twice) are enforced. A failed validation is the InvalidChangeBatch
//     document Route 53 sends (HTTP 400), and nothing changes.
//   - GET /2013-04-01/hostedzone/{Id}/rrset (ListResourceRecordSets):
//     ordered by name with the labels reversed, then type; paged with
//     name/type/maxitems (at most 300 a page) and
//     IsTruncated/NextRecordName/NextRecordType.
//   - GET /2013-04-01/change/{Id} (GetChange): PENDING for a configurable
//     number of polls, then INSYNC.
//   - GET /2013-04-01/hostedzonesbyname (ListHostedZonesByName).
//
// Errors use Route 53's ErrorResponse document and status codes. Faults
// can be injected: the next N requests throttled (Throttling,
// PriorRequestNotComplete) or failed with any status and code, a latency
// on every request, and a hook that runs just before a change batch is
// validated, to modify the zone behind the client's back.
//
// The fake also answers DNS queries for its zones on 127.0.0.1 (UDP and
// TCP) from its current content, so that a verification step that queries
// the provider's nameservers runs end to end.
package route53test

import (
	"crypto/rand"
	"encoding/xml"
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

// Namespace is the XML namespace of every Route 53 document.
const Namespace = "https://route53.amazonaws.com/doc/2013-04-01/"

// Limits of one ChangeResourceRecordSets request, from the Route 53
// developer guide ("Quotas on ChangeResourceRecordSets requests").
const (
	// MaxRecords is the most ResourceRecord elements in one request;
	// those of an UPSERT count twice.
	MaxRecords = 1000
	// MaxValueChars is the most characters in all Value elements of one
	// request; those of an UPSERT count twice.
	MaxValueChars = 32000
	// MaxPage is the most RRsets one ListResourceRecordSets page holds.
	MaxPage = 300
)

// Request is one HTTP request the fake received, for tests that check
// what goes over the wire.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   string
}

type hostedZone struct {
	id   string // without the /hostedzone/ prefix
	name string // canonical FQDN
	// private zones are listed but not served over DNS.
	private bool
	sets    map[zone.Key]zone.RRset
}

type fault struct {
	status  int
	code    string
	message string
	// retryAfter, when set, is sent as a Retry-After header (seconds).
	retryAfter int
	// writesOnly limits the fault to ChangeResourceRecordSets.
	writesOnly bool
}

// Server is a running fake. Create it with [New]; stop it with Close.
type Server struct {
	http *httptest.Server
	dns  *providertest.ZoneServer

	mu          sync.Mutex
	zones       map[string]*hostedZone
	changes     map[string]int // change id -> polls left before INSYNC
	faults      []fault
	latency     time.Duration
	beforeWrite func()
	insyncAfter int
	writes      int
	requests    []Request
	seq         int
}

// New starts a fake with no hosted zones: an HTTP server on 127.0.0.1 and
// a DNS server on 127.0.0.1 (UDP and TCP, one port). It is stopped when
// the test ends.
func New(t interface {
	Helper()
	Fatalf(string, ...any)
	Cleanup(func())
}) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("fake route53: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake; the caller stops it with Close.
func Start() (*Server, error) {
	s := &Server{zones: map[string]*hostedZone{}, changes: map[string]int{}, insyncAfter: 1}
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	var err error
	if s.dns, err = providertest.ServeZone(s.content); err != nil {
		s.http.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the HTTP and DNS servers.
func (s *Server) Close() {
	s.http.Close()
	_ = s.dns.Close()
}

// URL is the API endpoint, for the SDK's BaseEndpoint.
func (s *Server) URL() string { return s.http.URL }

// DNSAddr is the host:port the fake answers DNS queries on.
func (s *Server) DNSAddr() string { return s.dns.Addr() }

// AddZone creates a public hosted zone with a new id holding only its SOA
// and NS records, as Route 53 creates one, and returns the id (without
// the /hostedzone/ prefix).
func (s *Server) AddZone(name string) string {
	id := "Z" + randomID(20)
	s.AddZoneID(id, name, false)
	return id
}

// AddZoneID creates a hosted zone with the given id, public or private.
func (s *Server) AddZoneID(id, name string, private bool) {
	n, err := zone.CanonicalName(name)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := &hostedZone{id: id, name: n, private: private}
	z.reset()
	s.zones[id] = z
}

func (z *hostedZone) reset() {
	z.sets = map[zone.Key]zone.RRset{}
	soa := zone.MustRRset(z.name, dns.TypeSOA, 900, "ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400")
	ns := zone.MustRRset(z.name, dns.TypeNS, 172800, "ns-1.awsdns-01.org.", "ns-2.awsdns-02.co.uk.", "ns-3.awsdns-03.com.", "ns-4.awsdns-04.net.")
	z.sets[soa.Key()] = soa
	z.sets[ns.Key()] = ns
}

// Reset makes zone id hold only its SOA and NS records again.
func (s *Server) Reset(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone(id).reset()
}

func (s *Server) zone(id string) *hostedZone {
	z, ok := s.zones[id]
	if !ok {
		panic("fake route53: no hosted zone " + id)
	}
	return z
}

// Put sets RRsets of zone id directly, as another writer would; a set
// with no data deletes the RRset. It does not count as a write request.
func (s *Server) Put(id string, sets ...zone.RRset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zone(id)
	for _, set := range sets {
		if set.Empty() {
			delete(z.sets, set.Key())
			continue
		}
		z.sets[set.Key()] = set.Clone()
	}
}

// Dump returns every RRset of zone id, canonical and sorted.
func (s *Server) Dump(id string) []zone.RRset {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zone(id)
	out := make([]zone.RRset, 0, len(z.sets))
	for _, set := range z.sets {
		out = append(out, set.Clone())
	}
	zone.SortRRsets(out)
	return out
}

// Writes returns how many ChangeResourceRecordSets requests the fake has
// received, successful or not.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// FailNext makes the next n requests fail with the given HTTP status and
// Route 53 error code (an ErrorResponse document).
func (s *Server) FailNext(n, status int, code, message string) {
	s.addFaults(n, fault{status: status, code: code, message: message})
}

// FailNextWrites is [Server.FailNext] for change batches only; reads pass.
func (s *Server) FailNextWrites(n, status int, code, message string) {
	s.addFaults(n, fault{status: status, code: code, message: message, writesOnly: true})
}

// ThrottleNext makes the next n requests fail as Route 53 does when the
// account's request rate is exceeded (HTTP 400, Throttling), with a
// Retry-After header of retryAfter seconds when it is positive.
func (s *Server) ThrottleNext(n, retryAfter int) {
	s.addFaults(n, fault{status: http.StatusBadRequest, code: "Throttling", message: "Rate exceeded", retryAfter: retryAfter})
}

// ClearFaults drops every fault still pending from [Server.FailNext],
// [Server.FailNextWrites] and [Server.ThrottleNext]: the API heals.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) addFaults(n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// SetLatency delays every response by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// BeforeNextWrite runs fn once, just before the next change batch is
// validated, with no lock held: fn may call [Server.Put] to modify the
// zone concurrently, behind the client's back.
func (s *Server) BeforeNextWrite(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeWrite = fn
}

// SetInsyncAfter sets how many GetChange calls report PENDING before a
// change is INSYNC (default 1).
func (s *Server) SetInsyncAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insyncAfter = n
}

func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// ---- HTTP ----

const apiPrefix = "/2013-04-01/"

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	isWrite := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/rrset")

	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
	if isWrite {
		s.writes++
	}
	latency := s.latency
	var f *fault
	for i := range s.faults {
		if !s.faults[i].writesOnly || isWrite {
			ff := s.faults[i]
			f = &ff
			s.faults = slices.Delete(s.faults, i, i+1)
			break
		}
	}
	hook := s.beforeWrite
	if isWrite {
		s.beforeWrite = nil
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
	if f != nil {
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		writeError(w, f.status, f.code, f.message)
		return
	}

	path, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "unknown path "+r.URL.Path)
		return
	}
	parts := strings.Split(path, "/")
	switch {
	case len(parts) == 3 && parts[0] == "hostedzone" && parts[2] == "rrset" && r.Method == http.MethodPost:
		if hook != nil {
			hook()
		}
		s.changeRRsets(w, parts[1], body)
	case len(parts) == 3 && parts[0] == "hostedzone" && parts[2] == "rrset" && r.Method == http.MethodGet:
		s.listRRsets(w, parts[1], r)
	case len(parts) == 2 && parts[0] == "change" && r.Method == http.MethodGet:
		s.getChange(w, parts[1])
	case len(parts) == 1 && parts[0] == "hostedzonesbyname" && r.Method == http.MethodGet:
		s.listZonesByName(w, r)
	default:
		writeError(w, http.StatusNotFound, "UnknownOperationException", "unknown operation "+r.Method+" "+r.URL.Path)
	}
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	writeXML(w, status, errorResponse{Xmlns: Namespace, Type: typ, Code: code, Message: message, RequestID: newRequestID()})
}

type invalidChangeBatch struct {
	XMLName   xml.Name `xml:"InvalidChangeBatch"`
	Xmlns     string   `xml:"xmlns,attr"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeXML(w http.ResponseWriter, status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(out)
}

func newRequestID() string {
	return strings.ToLower(randomID(8) + "-" + randomID(4) + "-" + randomID(12))
}

// ---- ChangeResourceRecordSets ----

type resourceRecordSet struct {
	Name            string           `xml:"Name"`
	Type            string           `xml:"Type"`
	SetIdentifier   string           `xml:"SetIdentifier,omitempty"`
	TTL             *int64           `xml:"TTL,omitempty"`
	ResourceRecords []resourceRecord `xml:"ResourceRecords>ResourceRecord"`
	AliasTarget     *struct {
		DNSName string `xml:"DNSName"`
	} `xml:"AliasTarget,omitempty"`
}

type resourceRecord struct {
	Value string `xml:"Value"`
}

func values(rrs []resourceRecord) []string {
	out := make([]string, len(rrs))
	for i, r := range rrs {
		out[i] = r.Value
	}
	return out
}

type changeRequest struct {
	XMLName xml.Name `xml:"ChangeResourceRecordSetsRequest"`
	Comment string   `xml:"ChangeBatch>Comment"`
	Changes []struct {
		Action string            `xml:"Action"`
		RRset  resourceRecordSet `xml:"ResourceRecordSet"`
	} `xml:"ChangeBatch>Changes>Change"`
}

type changeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

type changeResponse struct {
	XMLName    xml.Name   `xml:"ChangeResourceRecordSetsResponse"`
	Xmlns      string     `xml:"xmlns,attr"`
	ChangeInfo changeInfo `xml:"ChangeInfo"`
}

// decodeName undoes Route 53's octal escapes (\052 for "*") and returns
// the canonical name.
func decodeName(n string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		if n[i] == '\\' && i+3 < len(n) {
			if v, err := strconv.ParseUint(n[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(n[i])
	}
	return zone.CanonicalName(b.String())
}

// encodeName escapes a name as Route 53 prints it: "*" as \052.
func encodeName(n string) string { return strings.ReplaceAll(n, "*", `\052`) }

func (s *Server) changeRRsets(w http.ResponseWriter, id string, body []byte) {
	var req changeRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidInput", "could not parse request: "+err.Error())
		return
	}
	if len(req.Changes) == 0 {
		writeError(w, http.StatusBadRequest, "InvalidInput", "ChangeBatch must contain at least one Change")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[id]
	if !ok {
		writeError(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+id)
		return
	}

	// Limits first, on the request as sent.
	records, chars := 0, 0
	for _, c := range req.Changes {
		weight := 1
		if c.Action == "UPSERT" {
			weight = 2
		}
		records += weight * len(c.RRset.ResourceRecords)
		for _, v := range c.RRset.ResourceRecords {
			chars += weight * len(v.Value)
		}
	}
	var msgs []string
	if records > MaxRecords {
		msgs = append(msgs, fmt.Sprintf("Number of records limit of %d exceeded.", MaxRecords))
	}
	if chars > MaxValueChars {
		msgs = append(msgs, fmt.Sprintf("Number of characters limit of %d exceeded.", MaxValueChars))
	}
	if len(msgs) > 0 {
		writeXML(w, http.StatusBadRequest, invalidChangeBatch{Xmlns: Namespace, Messages: msgs, RequestID: newRequestID()})
		return
	}

	// Validate the whole batch against a working copy; apply only if every
	// change is valid.
	work := make(map[zone.Key]zone.RRset, len(z.sets))
	for k, v := range z.sets {
		work[k] = v
	}
	deleted := map[zone.Key]bool{}
	for _, c := range req.Changes {
		rs := c.RRset
		if rs.SetIdentifier != "" || rs.AliasTarget != nil {
			writeError(w, http.StatusBadRequest, "InvalidInput", "this fake supports simple routing only")
			return
		}
		name, err := decodeName(rs.Name)
		if err != nil {
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid domain name: "+rs.Name)
			return
		}
		typ, ok := zone.ParseType(rs.Type)
		if !ok {
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid type: "+rs.Type)
			return
		}
		if rs.TTL == nil {
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid request: Missing field 'TTL' in Change with [Action="+c.Action+", Name="+rs.Name+", Type="+rs.Type+"]")
			return
		}
		if len(rs.ResourceRecords) == 0 {
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action="+c.Action+", Name="+rs.Name+", Type="+rs.Type+"]")
			return
		}
		desc := fmt.Sprintf("[name='%s', type='%s']", encodeName(name), rs.Type)
		if !zone.InZone(name, z.name) {
			msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", encodeName(name), z.name))
			continue
		}
		set, err := zone.NewRRset(name, typ, uint32(*rs.TTL), values(rs.ResourceRecords)...)
		if err != nil || *rs.TTL < 0 || *rs.TTL > zone.MaxTTL {
			msgs = append(msgs, "Invalid Resource Record: FATAL problem: bad record in "+desc)
			continue
		}
		k := set.Key()
		cur, exists := work[k]
		switch c.Action {
		case "CREATE":
			if exists {
				msgs = append(msgs, "Tried to create resource record set "+desc+" but it already exists")
				continue
			}
			work[k] = set
		case "DELETE":
			if deleted[k] && !exists {
				msgs = append(msgs, "Tried to delete resource record set "+desc+" more than once in a single change batch")
				continue
			}
			if !exists {
				msgs = append(msgs, "Tried to delete resource record set "+desc+" but it was not found")
				continue
			}
			if !cur.Equal(set) {
				msgs = append(msgs, "Tried to delete resource record set "+desc+" but the values provided do not match the current values")
				continue
			}
			deleted[k] = true
			delete(work, k)
		case "UPSERT":
			work[k] = set
		default:
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid Action: "+c.Action)
			return
		}
	}
	if len(msgs) > 0 {
		writeXML(w, http.StatusBadRequest, invalidChangeBatch{Xmlns: Namespace, Messages: msgs, RequestID: newRequestID()})
		return
	}
	z.sets = work
	s.seq++
	cid := fmt.Sprintf("C%06d%s", s.seq, randomID(8))
	s.changes[cid] = s.insyncAfter
	writeXML(w, http.StatusOK, changeResponse{Xmlns: Namespace, ChangeInfo: changeInfo{
		ID: "/change/" + cid, Status: "PENDING", SubmittedAt: time.Now().UTC().Format(time.RFC3339), Comment: req.Comment,
	}})
}

// ---- ListResourceRecordSets ----

type listRRsetsResponse struct {
	XMLName        xml.Name            `xml:"ListResourceRecordSetsResponse"`
	Xmlns          string              `xml:"xmlns,attr"`
	RRsets         []resourceRecordSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated    bool                `xml:"IsTruncated"`
	NextRecordName string              `xml:"NextRecordName,omitempty"`
	NextRecordType string              `xml:"NextRecordType,omitempty"`
	MaxItems       string              `xml:"MaxItems"`
}

// less orders RRsets as ListResourceRecordSets does: by name with the
// labels reversed, then by type name.
func less(a, b zone.Key) int {
	if c := zone.CompareNames(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(zone.TypeString(a.Type), zone.TypeString(b.Type))
}

func (s *Server) listRRsets(w http.ResponseWriter, id string, r *http.Request) {
	q := r.URL.Query()
	max := MaxPage
	if v := q.Get("maxitems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid maxitems: "+v)
			return
		}
		max = min(n, MaxPage)
	}
	var start *zone.Key
	if v := q.Get("name"); v != "" {
		n, err := decodeName(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid name: "+v)
			return
		}
		k := zone.Key{Name: n}
		if t := q.Get("type"); t != "" {
			typ, ok := zone.ParseType(t)
			if !ok {
				writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid type: "+t)
				return
			}
			k.Type = typ
		}
		start = &k
	} else if q.Get("type") != "" {
		writeError(w, http.StatusBadRequest, "InvalidInput", "The input is not valid: a type requires a name")
		return
	}

	s.mu.Lock()
	z, ok := s.zones[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+id)
		return
	}
	keys := make([]zone.Key, 0, len(z.sets))
	for k := range z.sets {
		if start != nil {
			c := zone.CompareNames(k.Name, start.Name)
			if c < 0 || (c == 0 && start.Type != 0 && strings.Compare(zone.TypeString(k.Type), zone.TypeString(start.Type)) < 0) {
				continue
			}
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, less)
	resp := listRRsetsResponse{Xmlns: Namespace, MaxItems: strconv.Itoa(max)}
	for i, k := range keys {
		if i == max {
			resp.IsTruncated = true
			resp.NextRecordName = encodeName(k.Name)
			resp.NextRecordType = zone.TypeString(k.Type)
			break
		}
		set := z.sets[k]
		ttl := int64(set.TTL)
		rrs := make([]resourceRecord, len(set.Data))
		for i, d := range set.Data {
			rrs[i] = resourceRecord{Value: d}
		}
		resp.RRsets = append(resp.RRsets, resourceRecordSet{
			Name: encodeName(set.Name), Type: zone.TypeString(set.Type), TTL: &ttl, ResourceRecords: rrs,
		})
	}
	s.mu.Unlock()
	writeXML(w, http.StatusOK, resp)
}

// ---- GetChange ----

type getChangeResponse struct {
	XMLName    xml.Name   `xml:"GetChangeResponse"`
	Xmlns      string     `xml:"xmlns,attr"`
	ChangeInfo changeInfo `xml:"ChangeInfo"`
}

func (s *Server) getChange(w http.ResponseWriter, id string) {
	s.mu.Lock()
	left, ok := s.changes[id]
	if ok && left > 0 {
		s.changes[id] = left - 1
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist: "+id)
		return
	}
	status := "INSYNC"
	if left > 0 {
		status = "PENDING"
	}
	writeXML(w, http.StatusOK, getChangeResponse{Xmlns: Namespace, ChangeInfo: changeInfo{
		ID: "/change/" + id, Status: status, SubmittedAt: time.Now().UTC().Format(time.RFC3339),
	}})
}

// ---- ListHostedZonesByName ----

type hostedZoneXML struct {
	ID              string `xml:"Id"`
	Name            string `xml:"Name"`
	CallerReference string `xml:"CallerReference"`
	PrivateZone     bool   `xml:"Config>PrivateZone"`
	RRsetCount      int    `xml:"ResourceRecordSetCount"`
}

type listZonesResponse struct {
	XMLName     xml.Name        `xml:"ListHostedZonesByNameResponse"`
	Xmlns       string          `xml:"xmlns,attr"`
	HostedZones []hostedZoneXML `xml:"HostedZones>HostedZone"`
	DNSName     string          `xml:"DNSName,omitempty"`
	IsTruncated bool            `xml:"IsTruncated"`
	MaxItems    string          `xml:"MaxItems"`
	NextDNSName string          `xml:"NextDNSName,omitempty"`
}

func (s *Server) listZonesByName(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	max := 100
	if v := q.Get("maxitems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "InvalidInput", "Invalid maxitems: "+v)
			return
		}
		max = min(n, 100)
	}
	from := ""
	if v := q.Get("dnsname"); v != "" {
		n, err := decodeName(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "InvalidDomainName", "Invalid DNS name: "+v)
			return
		}
		from = n
	}
	s.mu.Lock()
	var zs []*hostedZone
	for _, z := range s.zones {
		if from == "" || zone.CompareNames(z.name, from) >= 0 {
			zs = append(zs, z)
		}
	}
	slices.SortFunc(zs, func(a, b *hostedZone) int {
		if c := zone.CompareNames(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	resp := listZonesResponse{Xmlns: Namespace, DNSName: q.Get("dnsname"), MaxItems: strconv.Itoa(max)}
	for i, z := range zs {
		if i == max {
			resp.IsTruncated = true
			resp.NextDNSName = z.name
			break
		}
		resp.HostedZones = append(resp.HostedZones, hostedZoneXML{
			ID: "/hostedzone/" + z.id, Name: z.name, CallerReference: "fake-" + z.id, PrivateZone: z.private, RRsetCount: len(z.sets),
		})
	}
	s.mu.Unlock()
	writeXML(w, http.StatusOK, resp)
}

// ---- DNS ----

// content gives the DNS server the RRsets of the public hosted zone that
// holds qname (the longest match), as Route 53's name servers serve it.
func (s *Server) content(qname string) (string, map[zone.Key]zone.RRset, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var z *hostedZone
	for _, c := range s.zones {
		if !c.private && zone.InZone(qname, c.name) && (z == nil || dns.CountLabel(c.name) > dns.CountLabel(z.name)) {
			z = c
		}
	}
	if z == nil {
		return "", nil, false
	}
	return z.name, maps.Clone(z.sets), true
}
