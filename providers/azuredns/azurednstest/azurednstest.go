// Package azurednstest is Azure DNS for tests, without a cloud account: the
// handlers of the SDK's own [armfake.RecordSetsServer] over an in-memory
// zone, with the ETag rules of the real service, fault injection, and a
// DNS server on loopback that answers from the same store so that a
// verification step can query it.
//
// The SDK client talks to it through [Server.Transport], which plugs into
// arm.ClientOptions.Transport: requests never leave the process. ETag
// rules, as Azure DNS applies them:
//
//   - every successful write gives the record set a new ETag;
//   - If-Match must equal the current ETag, else 412 PreconditionFailed
//     (a missing record set never matches, for PUT and DELETE alike);
//   - If-None-Match: * fails with 412 when the record set exists;
//   - a CNAME cannot share its name with any other record set: 409;
//   - the apex SOA and NS record sets cannot be deleted: 400.
//
// Faults (throttling with Retry-After, 5xx, latency) are injected by the
// transport in front of the generated fake, because a handler's error
// responder cannot carry response headers; the SDK then sees a real HTTP
// response and its own retry and error policies run on it.
package azurednstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	armfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns/fake"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers/azuredns/internal/txtstr"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/zone"
)

// ApexNS are the name servers the fake puts at the apex, as Azure does.
var ApexNS = []string{"ns1-01.azure-dns.com.", "ns2-01.azure-dns.net."}

// Server is one fake Azure DNS zone. Its methods are safe for concurrent
// use.
type Server struct {
	// Subscription and ResourceGroup are what requests must name.
	Subscription, ResourceGroup string

	fqdn string // "example.com."
	az   string // "example.com"

	mu       sync.Mutex
	sets     map[zone.Key]*stored
	etagSeq  uint64
	faults   []Fault
	latency  time.Duration
	hook     func(op string, k zone.Key)
	writes   int
	requests int

	dns *providertest.ZoneServer // nil until ServeDNS
}

// stored is one record set as Azure keeps it.
type stored struct {
	props armdns.RecordSetProperties
	etag  string
}

// Fault is one injected failure: the request gets Status (with a
// Retry-After of RetryAfter when it is not zero) instead of reaching the
// handlers.
type Fault struct {
	Status     int
	RetryAfter time.Duration
	// WritesOnly makes the fault wait for the next PUT, PATCH or DELETE.
	WritesOnly bool
}

// New returns a fake holding zoneName with only its apex SOA and NS.
func New(subscription, resourceGroup, zoneName string) *Server {
	fqdn := strings.ToLower(dns.Fqdn(zoneName))
	s := &Server{Subscription: subscription, ResourceGroup: resourceGroup, fqdn: fqdn, az: strings.TrimSuffix(fqdn, ".")}
	s.Reset()
	return s
}

// Zone returns the zone's lower-case FQDN.
func (s *Server) Zone() string { return s.fqdn }

// Reset makes the zone hold only its apex SOA and NS record sets and
// clears pending faults, latency and the write hook. Counters keep going.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets = map[zone.Key]*stored{}
	s.faults = nil
	s.latency = 0
	s.hook = nil
	s.store(zone.Key{Name: s.fqdn, Type: dns.TypeSOA}, armdns.RecordSetProperties{
		TTL: to.Ptr[int64](3600),
		SoaRecord: &armdns.SoaRecord{
			Host: to.Ptr(ApexNS[0]), Email: to.Ptr("azuredns-hostmaster.microsoft.com"),
			SerialNumber: to.Ptr[int64](1), RefreshTime: to.Ptr[int64](3600), RetryTime: to.Ptr[int64](300),
			ExpireTime: to.Ptr[int64](2419200), MinimumTTL: to.Ptr[int64](300),
		},
	})
	ns := armdns.RecordSetProperties{TTL: to.Ptr[int64](172800)}
	for _, n := range ApexNS {
		ns.NsRecords = append(ns.NsRecords, &armdns.NsRecord{Nsdname: to.Ptr(n)})
	}
	s.store(zone.Key{Name: s.fqdn, Type: dns.TypeNS}, ns)
}

// store saves props under k with a new ETag; s.mu is held.
func (s *Server) store(k zone.Key, props armdns.RecordSetProperties) *stored {
	s.etagSeq++
	props.Fqdn = to.Ptr(k.Name)
	props.ProvisioningState = to.Ptr("Succeeded")
	st := &stored{props: props, etag: fmt.Sprintf("%08x-0000-4000-8000-%012x", s.etagSeq, s.etagSeq)}
	s.sets[k] = st
	return st
}

// Put sets RRsets directly, as another writer would; a set without data
// deletes the record set. Each stored set gets a new ETag.
func (s *Server) Put(sets ...zone.RRset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range sets {
		k := set.Key()
		if set.Empty() {
			delete(s.sets, k)
			continue
		}
		props, err := propsOf(set)
		if err != nil {
			return err
		}
		s.store(k, props)
	}
	return nil
}

// PutEmpty creates a record set without records, which Azure allows (the
// portal makes them) and DNS does not see.
func (s *Server) PutEmpty(k zone.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(k, armdns.RecordSetProperties{TTL: to.Ptr[int64](300)})
}

// ETag returns the current ETag of k ("" when absent).
func (s *Server) ETag(k zone.Key) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.sets[k]; ok {
		return st.etag
	}
	return ""
}

// Dump returns every record set that holds records, apex included, as
// canonical RRsets sorted by key.
func (s *Server) Dump() []zone.RRset {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rrs []dns.RR
	for k, st := range s.sets {
		rrs = append(rrs, rrsOf(k, st.props)...)
	}
	return zone.FromRRs(rrs)
}

// Fail queues faults; each is used by one request (or the next write,
// see [Fault.WritesOnly]).
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// SetLatency delays every request by d (0: none).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// OnWrite sets a hook called with "create_or_update" or "delete" and the
// key before each write request is handled, so a test can modify the
// zone concurrently (with [Server.Put]) at an exact point. nil removes it.
func (s *Server) OnWrite(hook func(op string, k zone.Key)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// Writes returns how many write requests (PUT, PATCH, DELETE) reached the
// fake, injected faults included.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests returns how many requests reached the fake.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Transport returns the transport to put in arm.ClientOptions: faults and
// latency first, then the SDK's generated fake server with this store's
// handlers.
func (s *Server) Transport() policy.Transporter {
	srv := &armfake.RecordSetsServer{
		Get:                   s.get,
		CreateOrUpdate:        s.createOrUpdate,
		Delete:                s.delete,
		NewListByDNSZonePager: s.listByZone,
		NewListAllByDNSZonePager: func(rg, zoneName string, o *armdns.RecordSetsClientListAllByDNSZoneOptions) azfake.PagerResponder[armdns.RecordSetsClientListAllByDNSZoneResponse] {
			var top *int32
			if o != nil {
				top = o.Top
			}
			var out azfake.PagerResponder[armdns.RecordSetsClientListAllByDNSZoneResponse]
			s.pages(rg, zoneName, top, func(v []*armdns.RecordSet) {
				out.AddPage(http.StatusOK, armdns.RecordSetsClientListAllByDNSZoneResponse{RecordSetListResult: armdns.RecordSetListResult{Value: v}}, nil)
			}, func(status int, code string) { out.AddResponseError(status, code) })
			return out
		},
	}
	return &faultTransport{s: s, next: armfake.NewRecordSetsServerTransport(srv)}
}

// faultTransport injects latency and queued faults in front of the
// generated fake and counts requests.
type faultTransport struct {
	s    *Server
	next policy.Transporter
}

// Do implements [policy.Transporter].
func (t *faultTransport) Do(req *http.Request) (*http.Response, error) {
	write := req.Method == http.MethodPut || req.Method == http.MethodPatch || req.Method == http.MethodDelete
	t.s.mu.Lock()
	t.s.requests++
	if write {
		t.s.writes++
	}
	lat := t.s.latency
	var f *Fault
	for i := range t.s.faults {
		if !t.s.faults[i].WritesOnly || write {
			ff := t.s.faults[i]
			f = &ff
			t.s.faults = slices.Delete(t.s.faults, i, i+1)
			break
		}
	}
	t.s.mu.Unlock()
	if lat > 0 {
		timer := time.NewTimer(lat)
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		}
	}
	if f != nil {
		return faultResponse(req, *f), nil
	}
	return t.next.Do(req)
}

func faultResponse(req *http.Request, f Fault) *http.Response {
	code := "InternalServerError"
	switch {
	case f.Status == http.StatusTooManyRequests:
		code = "TooManyRequests"
	case f.Status == http.StatusServiceUnavailable:
		code = "ServiceUnavailable"
	case f.Status < 500:
		code = http.StatusText(f.Status)
	}
	body := fmt.Sprintf(`{"error":{"code":%q,"message":"injected by the fake"}}`, code)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("x-ms-error-code", code)
	if f.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	return &http.Response{
		Status:        strconv.Itoa(f.Status) + " " + http.StatusText(f.Status),
		StatusCode:    f.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// key resolves a request's record set; ok is false when the resource
// group or zone is not this one.
func (s *Server) key(rg, zoneName, rel string, rt armdns.RecordType) (zone.Key, bool, error) {
	if !strings.EqualFold(rg, s.ResourceGroup) || !strings.EqualFold(strings.TrimSuffix(zoneName, "."), s.az) {
		return zone.Key{}, false, nil
	}
	t, ok := zone.ParseType(string(rt))
	if !ok {
		return zone.Key{}, true, fmt.Errorf("unknown record type %q", rt)
	}
	name := s.fqdn
	if rel != "@" {
		name = strings.ToLower(rel) + "." + s.fqdn
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return zone.Key{}, true, fmt.Errorf("bad record set name %q", rel)
	}
	return zone.Key{Name: name, Type: t}, true, nil
}

// recordSet returns the API view of a stored record set; s.mu is held.
func (s *Server) recordSet(k zone.Key, st *stored) armdns.RecordSet {
	rel := "@"
	if k.Name != s.fqdn {
		rel = strings.TrimSuffix(k.Name, "."+s.fqdn)
	}
	typ := zone.TypeString(k.Type)
	props := st.props
	return armdns.RecordSet{
		ID:         to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s/%s/%s", s.Subscription, s.ResourceGroup, s.az, typ, rel)),
		Name:       to.Ptr(rel),
		Type:       to.Ptr("Microsoft.Network/dnszones/" + typ),
		Etag:       to.Ptr(st.etag),
		Properties: &props,
	}
}

func (s *Server) callHook(op string, k zone.Key) {
	s.mu.Lock()
	h := s.hook
	s.mu.Unlock()
	if h != nil {
		h(op, k)
	}
}

func (s *Server) get(_ context.Context, rg, zoneName, rel string, rt armdns.RecordType, _ *armdns.RecordSetsClientGetOptions) (resp azfake.Responder[armdns.RecordSetsClientGetResponse], errResp azfake.ErrorResponder) {
	k, ok, err := s.key(rg, zoneName, rel, rt)
	switch {
	case !ok:
		errResp.SetResponseError(http.StatusNotFound, "ParentResourceNotFound")
		return
	case err != nil:
		errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, found := s.sets[k]
	if !found {
		errResp.SetResponseError(http.StatusNotFound, "NotFound")
		return
	}
	resp.SetResponse(http.StatusOK, armdns.RecordSetsClientGetResponse{RecordSet: s.recordSet(k, st)}, nil)
	return
}

func (s *Server) createOrUpdate(_ context.Context, rg, zoneName, rel string, rt armdns.RecordType, params armdns.RecordSet, o *armdns.RecordSetsClientCreateOrUpdateOptions) (resp azfake.Responder[armdns.RecordSetsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
	k, ok, err := s.key(rg, zoneName, rel, rt)
	switch {
	case !ok:
		errResp.SetResponseError(http.StatusNotFound, "ParentResourceNotFound")
		return
	case err != nil:
		errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
		return
	}
	s.callHook("create_or_update", k)
	if err := validate(k, params.Properties); err != nil {
		errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.sets[k]
	if o != nil && o.IfMatch != nil && *o.IfMatch != "*" && (!exists || cur.etag != *o.IfMatch) {
		errResp.SetResponseError(http.StatusPreconditionFailed, "PreconditionFailed")
		return
	}
	if o != nil && o.IfMatch != nil && *o.IfMatch == "*" && !exists {
		errResp.SetResponseError(http.StatusPreconditionFailed, "PreconditionFailed")
		return
	}
	if o != nil && o.IfNoneMatch != nil && *o.IfNoneMatch == "*" && exists {
		errResp.SetResponseError(http.StatusPreconditionFailed, "PreconditionFailed")
		return
	}
	for other := range s.sets {
		if other.Name == k.Name && other.Type != k.Type && (other.Type == dns.TypeCNAME || k.Type == dns.TypeCNAME) {
			errResp.SetResponseError(http.StatusConflict, "Conflict")
			return
		}
	}
	props := *params.Properties
	st := s.store(k, props)
	status := http.StatusCreated
	if exists {
		status = http.StatusOK
	}
	resp.SetResponse(status, armdns.RecordSetsClientCreateOrUpdateResponse{RecordSet: s.recordSet(k, st)}, nil)
	return
}

func (s *Server) delete(_ context.Context, rg, zoneName, rel string, rt armdns.RecordType, o *armdns.RecordSetsClientDeleteOptions) (resp azfake.Responder[armdns.RecordSetsClientDeleteResponse], errResp azfake.ErrorResponder) {
	k, ok, err := s.key(rg, zoneName, rel, rt)
	switch {
	case !ok:
		errResp.SetResponseError(http.StatusNotFound, "ParentResourceNotFound")
		return
	case err != nil:
		errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
		return
	}
	s.callHook("delete", k)
	if k.Name == s.fqdn && (k.Type == dns.TypeSOA || k.Type == dns.TypeNS) {
		errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.sets[k]
	if o != nil && o.IfMatch != nil && (!exists || (*o.IfMatch != "*" && cur.etag != *o.IfMatch)) {
		errResp.SetResponseError(http.StatusPreconditionFailed, "PreconditionFailed")
		return
	}
	if !exists {
		resp.SetResponse(http.StatusNoContent, armdns.RecordSetsClientDeleteResponse{}, nil)
		return
	}
	delete(s.sets, k)
	resp.SetResponse(http.StatusOK, armdns.RecordSetsClientDeleteResponse{}, nil)
	return
}

func (s *Server) listByZone(rg, zoneName string, o *armdns.RecordSetsClientListByDNSZoneOptions) azfake.PagerResponder[armdns.RecordSetsClientListByDNSZoneResponse] {
	var top *int32
	if o != nil {
		top = o.Top
	}
	var out azfake.PagerResponder[armdns.RecordSetsClientListByDNSZoneResponse]
	s.pages(rg, zoneName, top, func(v []*armdns.RecordSet) {
		out.AddPage(http.StatusOK, armdns.RecordSetsClientListByDNSZoneResponse{RecordSetListResult: armdns.RecordSetListResult{Value: v}}, nil)
	}, func(status int, code string) { out.AddResponseError(status, code) })
	return out
}

// pages cuts a snapshot of the zone into pages of top record sets (100
// when unset, as Azure does) in canonical order.
func (s *Server) pages(rg, zoneName string, top *int32, page func([]*armdns.RecordSet), fail func(int, string)) {
	if !strings.EqualFold(rg, s.ResourceGroup) || !strings.EqualFold(strings.TrimSuffix(zoneName, "."), s.az) {
		fail(http.StatusNotFound, "ParentResourceNotFound")
		return
	}
	n := 100
	if top != nil && *top > 0 {
		n = int(*top)
	}
	s.mu.Lock()
	keys := make([]zone.Key, 0, len(s.sets))
	for k := range s.sets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b zone.Key) int {
		if c := zone.CompareNames(a.Name, b.Name); c != 0 {
			return c
		}
		return int(a.Type) - int(b.Type)
	})
	all := make([]*armdns.RecordSet, 0, len(keys))
	for _, k := range keys {
		rs := s.recordSet(k, s.sets[k])
		all = append(all, &rs)
	}
	s.mu.Unlock()
	for len(all) > n {
		page(all[:n])
		all = all[n:]
	}
	page(all)
}

// validate checks a record set body as Azure does: properties and a TTL,
// and records of the path's type only.
func validate(k zone.Key, p *armdns.RecordSetProperties) error {
	if p == nil || p.TTL == nil || *p.TTL < 0 || *p.TTL > zone.MaxTTL {
		return errors.New("missing properties or ttl")
	}
	has := map[uint16]bool{
		dns.TypeA: len(p.ARecords) > 0, dns.TypeAAAA: len(p.AaaaRecords) > 0, dns.TypeCAA: len(p.CaaRecords) > 0,
		dns.TypeCNAME: p.CnameRecord != nil, dns.TypeMX: len(p.MxRecords) > 0, dns.TypeNS: len(p.NsRecords) > 0,
		dns.TypePTR: len(p.PtrRecords) > 0, dns.TypeSRV: len(p.SrvRecords) > 0, dns.TypeTXT: len(p.TxtRecords) > 0,
		dns.TypeSOA: p.SoaRecord != nil,
	}
	for t, ok := range has {
		if ok && t != k.Type {
			return fmt.Errorf("%s records in a %s record set", zone.TypeString(t), zone.TypeString(k.Type))
		}
	}
	if k.Type == dns.TypeSOA {
		return errors.New("SOA is managed by the zone")
	}
	if _, err := zone.NewRRset(k.Name, k.Type, uint32(*p.TTL), rdataOf(k.Type, *p)...); err != nil {
		return err
	}
	for _, r := range p.TxtRecords {
		for _, v := range r.Value {
			if v != nil && len(*v) > txtstr.MaxLen {
				return errors.New("TXT string longer than 255")
			}
		}
	}
	return nil
}

// propsOf converts a canonical RRset into Azure's record set properties.
func propsOf(set zone.RRset) (armdns.RecordSetProperties, error) {
	rrs, err := set.RRs()
	if err != nil {
		return armdns.RecordSetProperties{}, err
	}
	p := armdns.RecordSetProperties{TTL: to.Ptr(int64(set.TTL))}
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.A:
			p.ARecords = append(p.ARecords, &armdns.ARecord{IPv4Address: to.Ptr(r.A.String())})
		case *dns.AAAA:
			p.AaaaRecords = append(p.AaaaRecords, &armdns.AaaaRecord{IPv6Address: to.Ptr(r.AAAA.String())})
		case *dns.CAA:
			p.CaaRecords = append(p.CaaRecords, &armdns.CaaRecord{Flags: to.Ptr(int32(r.Flag)), Tag: to.Ptr(r.Tag), Value: to.Ptr(txtstr.Unescape(r.Value))})
		case *dns.CNAME:
			p.CnameRecord = &armdns.CnameRecord{Cname: to.Ptr(r.Target)}
		case *dns.MX:
			p.MxRecords = append(p.MxRecords, &armdns.MxRecord{Preference: to.Ptr(int32(r.Preference)), Exchange: to.Ptr(r.Mx)})
		case *dns.NS:
			p.NsRecords = append(p.NsRecords, &armdns.NsRecord{Nsdname: to.Ptr(r.Ns)})
		case *dns.PTR:
			p.PtrRecords = append(p.PtrRecords, &armdns.PtrRecord{Ptrdname: to.Ptr(r.Ptr)})
		case *dns.SRV:
			p.SrvRecords = append(p.SrvRecords, &armdns.SrvRecord{Priority: to.Ptr(int32(r.Priority)), Weight: to.Ptr(int32(r.Weight)), Port: to.Ptr(int32(r.Port)), Target: to.Ptr(r.Target)})
		case *dns.TXT:
			var vals []*string
			for _, t := range r.Txt {
				vals = append(vals, to.Ptr(txtstr.Unescape(t)))
			}
			p.TxtRecords = append(p.TxtRecords, &armdns.TxtRecord{Value: vals})
		default:
			return armdns.RecordSetProperties{}, fmt.Errorf("fake: type %s is not supported by Azure DNS", zone.TypeString(set.Type))
		}
	}
	return p, nil
}

// rdataOf returns the presentation rdata of Azure record set properties
// of type t.
func rdataOf(t uint16, p armdns.RecordSetProperties) []string {
	var out []string
	fq := func(s *string) string { return dns.Fqdn(deref(s)) }
	switch t {
	case dns.TypeA:
		for _, r := range p.ARecords {
			out = append(out, deref(r.IPv4Address))
		}
	case dns.TypeAAAA:
		for _, r := range p.AaaaRecords {
			out = append(out, deref(r.IPv6Address))
		}
	case dns.TypeCAA:
		for _, r := range p.CaaRecords {
			out = append(out, fmt.Sprintf("%d %s %s", deref32(r.Flags), deref(r.Tag), txtstr.Quote(deref(r.Value))))
		}
	case dns.TypeCNAME:
		if p.CnameRecord != nil {
			out = append(out, fq(p.CnameRecord.Cname))
		}
	case dns.TypeMX:
		for _, r := range p.MxRecords {
			out = append(out, fmt.Sprintf("%d %s", deref32(r.Preference), fq(r.Exchange)))
		}
	case dns.TypeNS:
		for _, r := range p.NsRecords {
			out = append(out, fq(r.Nsdname))
		}
	case dns.TypePTR:
		for _, r := range p.PtrRecords {
			out = append(out, fq(r.Ptrdname))
		}
	case dns.TypeSRV:
		for _, r := range p.SrvRecords {
			out = append(out, fmt.Sprintf("%d %d %d %s", deref32(r.Priority), deref32(r.Weight), deref32(r.Port), fq(r.Target)))
		}
	case dns.TypeTXT:
		for _, r := range p.TxtRecords {
			var parts []string
			for _, v := range r.Value {
				parts = append(parts, txtstr.Quote(deref(v)))
			}
			if len(parts) == 0 {
				parts = []string{`""`}
			}
			out = append(out, strings.Join(parts, " "))
		}
	case dns.TypeSOA:
		if r := p.SoaRecord; r != nil {
			out = append(out, fmt.Sprintf("%s %s %d %d %d %d %d", fq(r.Host), fq(r.Email), deref64(r.SerialNumber), deref64(r.RefreshTime), deref64(r.RetryTime), deref64(r.ExpireTime), deref64(r.MinimumTTL)))
		}
	}
	return out
}

// rrsOf returns the DNS records of a stored record set.
func rrsOf(k zone.Key, p armdns.RecordSetProperties) []dns.RR {
	var ttl int64
	if p.TTL != nil {
		ttl = *p.TTL
	}
	var out []dns.RR
	for _, d := range rdataOf(k.Type, p) {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", k.Name, ttl, zone.TypeString(k.Type), d))
		if err == nil && rr != nil {
			out = append(out, rr)
		}
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func deref64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// ServeDNS starts an authoritative DNS server for the zone on
// 127.0.0.1 (UDP and TCP on one port) answering from the store, and
// returns its address. [Server.Close] stops it.
func (s *Server) ServeDNS() (string, error) {
	z, err := providertest.ServeZone(s.content)
	if err != nil {
		return "", fmt.Errorf("fake: %w", err)
	}
	s.mu.Lock()
	s.dns = z
	s.mu.Unlock()
	return z.Addr(), nil
}

// Close stops the DNS server, if it runs.
func (s *Server) Close() error {
	s.mu.Lock()
	z := s.dns
	s.dns = nil
	s.mu.Unlock()
	if z == nil {
		return nil
	}
	return z.Close()
}

// content gives the DNS server the zone's record sets that hold records,
// as Azure's name servers serve them.
func (s *Server) content(qname string) (string, map[zone.Key]zone.RRset, bool) {
	if !zone.InZone(qname, s.fqdn) {
		return "", nil, false
	}
	sets := map[zone.Key]zone.RRset{}
	for _, set := range s.Dump() {
		sets[set.Key()] = set
	}
	return s.fqdn, sets, true
}
