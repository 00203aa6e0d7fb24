// Package dnsserver is switchboard's embedded authoritative DNS server.
//
// A [Server] answers from an immutable snapshot that [Server.Load]
// compiles from [zone.Zone] values: records are built once as miekg/dns
// values, every existing name (empty non-terminals included) is indexed,
// and referrals, glue, negative-answer SOAs and wildcard links are
// precomputed, so a query costs a few map look-ups and a pack. The only
// per-query work beyond that is the weighted pick of [zone.Pick] rules and
// copying the answer records whose owner is the question name when the
// question's letter case differs from the zone's (resolvers randomise it,
// "0x20", and compare it on the way back). Load swaps the snapshot
// atomically and a query reads the pointer once, so every reply comes
// from one generation.
//
// What the server does, by the RFCs it follows:
//
//   - RFC 1034, 1035, 2181: AA on authoritative answers; NXDOMAIN and
//     NODATA (an empty non-terminal is NODATA); REFUSED for names in no
//     loaded zone, the zone of a name being the loaded zone with the
//     longest matching origin; CNAME chains followed within the zone (at
//     most [MaxCNAMEChain] records, loops stopped), qtype CNAME answered
//     with the CNAME itself; referrals at and below zone cuts (AA clear,
//     the cut's NS in authority, in-zone glue in additional), also after a
//     CNAME into a cut (AA then set, as the CNAME is ours); DS at a cut
//     answered authoritatively from the parent side, and DS at a loaded
//     zone's apex from its parent zone when that is loaded too. Glue for
//     the targets of apex NS, MX and SRV records is added when in the zone
//     and authoritative, at most 16 records.
//   - RFC 2308: negative answers carry the zone's SOA in authority, with
//     TTL min(SOA TTL, SOA minimum); after a CNAME the rcode is that of the
//     last name (RFC 6604).
//   - RFC 4592: wildcards, including NODATA from a wildcard, no match for a
//     name that exists, and empty non-terminals blocking a match.
//   - RFC 8482: ANY over UDP gets one RRset of the name (the one with the
//     lowest type code, or the CNAME); over TCP, where it cannot amplify,
//     every RRset of the name.
//   - RFC 6891: an OPT record in the reply exactly when the query had one,
//     with our buffer size ([Options.UDPSize]) and the DO bit echoed (we
//     do not sign, so DO changes nothing else); EDNS version above 0 gets
//     BADVERS; a second OPT record, an OPT outside the additional section
//     or with an owner other than the root gets FORMERR.
//   - Size: over UDP a reply must fit 512 bytes without EDNS, else the
//     client's size floored at 512 and capped at our UDPSize. A reply that
//     does not fit first loses whole RRsets from the end of its additional
//     section (no TC needed, RFC 2181 section 9); if it still does not fit,
//     or the glue a referral needs would go (RFC 9471), it is sent with TC
//     set and only the question (and OPT). TCP never truncates; a reply
//     over 65535 bytes becomes SERVFAIL.
//   - Message checks, before and after unpacking (the accept function
//     replaces [dns.DefaultMsgAcceptFunc], which lets NOTIFY and answer
//     records through): responses (QR set) and packets shorter than a
//     header are dropped silently; opcodes other than QUERY get NOTIMP
//     (NOTIFY and UPDATE included); QDCOUNT other than 1, records in the
//     answer section, more than one authority record (IXFR has one), more
//     than two additional records (OPT and TSIG), a header-only packet and
//     anything that does not unpack get FORMERR. Classes other than IN and
//     ANY get REFUSED: nothing is served in them, and REFUSED is what a
//     resolver reads as "ask someone else". Meta qtypes OPT, TSIG and TKEY
//     get FORMERR, MAILA and MAILB NOTIMP. FORMERR replies carry the
//     question only, no OPT.
//   - Zone transfers (RFC 5936, RFC 1995): AXFR over TCP only, to clients
//     in [Options.AXFRAllow] (nobody by default), SOA first and last, at
//     most [MaxXFRRecords] records and 32 KiB per message, all from one
//     snapshot. AXFR over UDP is REFUSED, a name that is not a loaded apex
//     NOTAUTH. IXFR gets our SOA alone when the client's serial is not
//     older, and over UDP (RFC 1995 section 2: the client then retries over
//     TCP); otherwise a full AXFR-style answer, which RFC 1995 section 4
//     allows a server that keeps no history to send.
//   - TSIG (RFC 8945) with the keys of [Options.TSIG]: a signed request is
//     verified and answered signed with its key, every message of a
//     transfer included; an unknown key or a bad MAC gets NOTAUTH with
//     BADKEY or BADSIG, unsigned, a clock skew NOTAUTH with BADTIME,
//     signed. When keys are configured a transfer must also be signed: the
//     address check alone is then not enough.
//
// Not done: DNSSEC signing, NOTIFY (sent or received), DNAME (rejected by
// Load rather than served wrongly), incremental IXFR, EDNS options (cookies,
// NSID, client subnet: ignored), response rate limiting.
package dnsserver
