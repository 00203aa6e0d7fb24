package azuredns

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/azuredns/internal/txtstr"
	"github.com/switchboard-dns/switchboard/zone"
)

// azureTypes are the record types Azure DNS record sets can hold and this
// provider writes. SOA exists in Azure but belongs to the zone, not to us.
var azureTypes = map[uint16]armdns.RecordType{
	dns.TypeA:     armdns.RecordTypeA,
	dns.TypeAAAA:  armdns.RecordTypeAAAA,
	dns.TypeCAA:   armdns.RecordTypeCAA,
	dns.TypeCNAME: armdns.RecordTypeCNAME,
	dns.TypeMX:    armdns.RecordTypeMX,
	dns.TypeNS:    armdns.RecordTypeNS,
	dns.TypePTR:   armdns.RecordTypePTR,
	dns.TypeSRV:   armdns.RecordTypeSRV,
	dns.TypeTXT:   armdns.RecordTypeTXT,
}

// recordType returns Azure's name for an RR type, or ErrInvalid.
func recordType(t uint16) (armdns.RecordType, error) {
	rt, ok := azureTypes[t]
	if !ok {
		return "", providers.Invalid(fmt.Errorf("azuredns: record type %s is not supported by Azure DNS", zone.TypeString(t)))
	}
	return rt, nil
}

// relativeName returns the Azure record set name of fqdn in zoneFQDN:
// "@" for the apex, "www" for www.<zone>. Both are canonical.
func relativeName(fqdn, zoneFQDN string) (string, error) {
	if fqdn == zoneFQDN {
		return "@", nil
	}
	rel, ok := strings.CutSuffix(fqdn, "."+zoneFQDN)
	if !ok || rel == "" {
		return "", providers.Invalid(fmt.Errorf("azuredns: %s is not in zone %s", fqdn, zoneFQDN))
	}
	return rel, nil
}

// absoluteName is the inverse of relativeName.
func absoluteName(rel, zoneFQDN string) string {
	if rel == "@" || rel == "" {
		return zoneFQDN
	}
	return strings.ToLower(rel) + "." + zoneFQDN
}

// typeFromResource reads the RR type from an ARM resource type such as
// "Microsoft.Network/dnszones/A".
func typeFromResource(resType string) (uint16, bool) {
	i := strings.LastIndexByte(resType, '/')
	return zone.ParseType(resType[i+1:])
}

// toRecordSet converts a canonical RRset into the body of a CreateOrUpdate.
// Names inside rdata are sent fully qualified with their trailing dot,
// which Azure accepts and returns unchanged, so "." (null MX, SRV "no
// service") survives the trip.
func toRecordSet(s zone.RRset) (armdns.RecordSet, error) {
	rrs, err := s.RRs()
	if err != nil {
		return armdns.RecordSet{}, providers.Invalid(fmt.Errorf("azuredns: %s: %w", s.Key(), err))
	}
	p := &armdns.RecordSetProperties{TTL: to.Ptr(int64(s.TTL))}
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.A:
			p.ARecords = append(p.ARecords, &armdns.ARecord{IPv4Address: to.Ptr(r.A.String())})
		case *dns.AAAA:
			p.AaaaRecords = append(p.AaaaRecords, &armdns.AaaaRecord{IPv6Address: to.Ptr(r.AAAA.String())})
		case *dns.CAA:
			p.CaaRecords = append(p.CaaRecords, &armdns.CaaRecord{Flags: to.Ptr(int32(r.Flag)), Tag: to.Ptr(r.Tag), Value: to.Ptr(txtstr.Unescape(r.Value))})
		case *dns.CNAME:
			if p.CnameRecord != nil {
				return armdns.RecordSet{}, providers.Invalid(fmt.Errorf("azuredns: %s: a CNAME set holds one record, got %d", s.Key(), len(rrs)))
			}
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
			// One TXT record is one TxtRecord; its character-strings
			// are the value list, each at most 255 bytes.
			var vals []*string
			for _, t := range r.Txt {
				for _, piece := range txtstr.Split(txtstr.Unescape(t)) {
					vals = append(vals, to.Ptr(piece))
				}
			}
			p.TxtRecords = append(p.TxtRecords, &armdns.TxtRecord{Value: vals})
		default:
			return armdns.RecordSet{}, providers.Invalid(fmt.Errorf("azuredns: record type %s is not supported by Azure DNS", zone.TypeString(s.Type)))
		}
	}
	return armdns.RecordSet{Properties: p}, nil
}

// fromRecordSet converts a record set read from Azure into a canonical
// RRset named fqdn of type typ. A record set without records (Azure
// allows them) returns an RRset with no data.
func fromRecordSet(fqdn string, typ uint16, rs *armdns.RecordSet) (zone.RRset, error) {
	p := rs.Properties
	if p == nil {
		return zone.RRset{}, providers.Invalid(fmt.Errorf("azuredns: %s %s: record set without properties", fqdn, zone.TypeString(typ)))
	}
	if p.TargetResource != nil && p.TargetResource.ID != nil && *p.TargetResource.ID != "" {
		return zone.RRset{}, providers.Invalid(fmt.Errorf("azuredns: %s %s is an alias record set; switchboard does not manage alias record sets", fqdn, zone.TypeString(typ)))
	}
	var ttl uint32
	if p.TTL != nil {
		if *p.TTL < 0 || *p.TTL > zone.MaxTTL {
			return zone.RRset{}, providers.Invalid(fmt.Errorf("azuredns: %s %s: ttl %d out of range", fqdn, zone.TypeString(typ), *p.TTL))
		}
		ttl = uint32(*p.TTL)
	}
	var data []string
	switch typ {
	case dns.TypeA:
		for _, r := range p.ARecords {
			data = append(data, str(r.IPv4Address))
		}
	case dns.TypeAAAA:
		for _, r := range p.AaaaRecords {
			data = append(data, str(r.IPv6Address))
		}
	case dns.TypeCAA:
		for _, r := range p.CaaRecords {
			data = append(data, fmt.Sprintf("%d %s %s", i32(r.Flags), str(r.Tag), txtstr.Quote(str(r.Value))))
		}
	case dns.TypeCNAME:
		if p.CnameRecord != nil && str(p.CnameRecord.Cname) != "" {
			data = append(data, dns.Fqdn(str(p.CnameRecord.Cname)))
		}
	case dns.TypeMX:
		for _, r := range p.MxRecords {
			data = append(data, strconv.Itoa(int(i32(r.Preference)))+" "+dns.Fqdn(str(r.Exchange)))
		}
	case dns.TypeNS:
		for _, r := range p.NsRecords {
			data = append(data, dns.Fqdn(str(r.Nsdname)))
		}
	case dns.TypePTR:
		for _, r := range p.PtrRecords {
			data = append(data, dns.Fqdn(str(r.Ptrdname)))
		}
	case dns.TypeSRV:
		for _, r := range p.SrvRecords {
			data = append(data, fmt.Sprintf("%d %d %d %s", i32(r.Priority), i32(r.Weight), i32(r.Port), dns.Fqdn(str(r.Target))))
		}
	case dns.TypeTXT:
		for _, r := range p.TxtRecords {
			parts := make([]string, 0, len(r.Value))
			for _, v := range r.Value {
				for _, piece := range txtstr.Split(str(v)) {
					parts = append(parts, txtstr.Quote(piece))
				}
			}
			if len(parts) == 0 {
				parts = append(parts, `""`)
			}
			data = append(data, strings.Join(parts, " "))
		}
	default:
		return zone.RRset{}, providers.Invalid(fmt.Errorf("azuredns: record type %s is not supported by Azure DNS", zone.TypeString(typ)))
	}
	if len(data) == 0 {
		return zone.RRset{Name: fqdn, Type: typ, TTL: ttl}, nil
	}
	s, err := zone.NewRRset(fqdn, typ, ttl, data...)
	if err != nil {
		return zone.RRset{}, providers.Invalid(fmt.Errorf("azuredns: %s %s: %w", fqdn, zone.TypeString(typ), err))
	}
	return s, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func i32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
