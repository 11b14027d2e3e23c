package panos

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// Every XML document the client sends is built from the structs below with
// encoding/xml, which escapes attribute values and character data, so no
// setting or target can change the structure of a command.

// UIDMessage is a User-ID API message (PAN-OS XML API, "Register IP
// addresses and tags"): type=user-id with cmd=<uid-message>.
type UIDMessage struct {
	XMLName xml.Name   `xml:"uid-message"`
	Version string     `xml:"version"`
	Type    string     `xml:"type"`
	Payload UIDPayload `xml:"payload"`
}

// UIDPayload holds the register and unregister sets. PAN-OS processes
// unregister entries before register entries.
type UIDPayload struct {
	Register   *EntrySet `xml:"register,omitempty"`
	Unregister *EntrySet `xml:"unregister,omitempty"`
}

// EntrySet is a list of IP-to-tag mappings.
type EntrySet struct {
	Entries []UIDEntry `xml:"entry"`
}

// UIDEntry maps one IP address (or, on PAN-OS 10.0 and later, a range or
// CIDR network) to tags.
type UIDEntry struct {
	IP         string  `xml:"ip,attr"`
	Persistent string  `xml:"persistent,attr,omitempty"`
	Tag        TagList `xml:"tag"`
}

// TagList is the tags of one entry.
type TagList struct {
	Members []TagMember `xml:"member"`
}

// TagMember is one tag. Timeout is in seconds: empty or "0" never expires,
// the maximum is 2592000 (30 days).
type TagMember struct {
	Timeout string `xml:"timeout,attr,omitempty"`
	Name    string `xml:",chardata"`
}

// ShowRegisteredIP is the operational command
// <show><object><registered-ip>...</registered-ip></object></show>.
type ShowRegisteredIP struct {
	XMLName xml.Name `xml:"show"`
	Object  struct {
		RegisteredIP RegisteredIPQuery `xml:"registered-ip"`
	} `xml:"object"`
}

// RegisteredIPQuery selects registered IPs: all of them or those with one
// tag, one page at a time. StartPoint counts from 1.
type RegisteredIPQuery struct {
	All        *struct{}  `xml:"all,omitempty"`
	Tag        *TagFilter `xml:"tag,omitempty"`
	Limit      int        `xml:"limit,omitempty"`
	StartPoint int        `xml:"start-point,omitempty"`
}

// TagFilter is <tag><entry name='TAG'/></tag>.
type TagFilter struct {
	Entry struct {
		Name string `xml:"name,attr"`
	} `xml:"entry"`
}

// BuildUIDMessage returns the uid-message that registers (register true) or
// unregisters tag on target. timeoutSeconds applies to register only; zero
// sends no timeout attribute, which PAN-OS reads as "never expires".
func BuildUIDMessage(register bool, target, tag string, timeoutSeconds int) ([]byte, error) {
	member := TagMember{Name: tag}
	if register && timeoutSeconds > 0 {
		member.Timeout = strconv.Itoa(timeoutSeconds)
	}
	set := &EntrySet{Entries: []UIDEntry{{IP: target, Tag: TagList{Members: []TagMember{member}}}}}

	msg := UIDMessage{Version: "2.0", Type: "update"}
	if register {
		msg.Payload.Register = set
	} else {
		msg.Payload.Unregister = set
	}
	out, err := xml.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("build uid-message: %w", err)
	}
	return out, nil
}

// BuildShowRegisteredIP returns the op command listing the IPs that carry
// tag, limit entries from startPoint (1-based). An empty tag lists all.
func BuildShowRegisteredIP(tag string, limit, startPoint int) ([]byte, error) {
	var cmd ShowRegisteredIP
	q := &cmd.Object.RegisteredIP
	if tag == "" {
		q.All = &struct{}{}
	} else {
		q.Tag = &TagFilter{}
		q.Tag.Entry.Name = tag
	}
	q.Limit = limit
	q.StartPoint = startPoint

	out, err := xml.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("build show registered-ip command: %w", err)
	}
	return out, nil
}

// Response is the envelope of every XML API response:
// <response status="success|error" code="N">...</response>.
type Response struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Code    string   `xml:"code,attr"`
	Msg     *Message `xml:"msg"`
	Result  *Result  `xml:"result"`
}

// Result is the <result> of a response. Only the members this client reads
// are decoded.
type Result struct {
	Key     string            `xml:"key"`
	Msg     *Message          `xml:"msg"`
	Entries []RegisteredEntry `xml:"entry"`
	Count   string            `xml:"count"`
	UID     *UIDResponse      `xml:"uid-response"`
}

// Message is an error or status message: plain text, or <line> elements
// that may wrap a uid-response with per-entry errors.
type Message struct {
	Text  string        `xml:",chardata"`
	Lines []MessageLine `xml:"line"`
}

// MessageLine is one <line> of a message.
type MessageLine struct {
	Text string       `xml:",chardata"`
	UID  *UIDResponse `xml:"uid-response"`
}

// UIDResponse is the response to a uid-message.
type UIDResponse struct {
	Payload struct {
		Register   []UIDEntryResult `xml:"register>entry"`
		Unregister []UIDEntryResult `xml:"unregister>entry"`
	} `xml:"payload"`
}

// UIDEntryResult is a per-entry message of a uid-response.
type UIDEntryResult struct {
	IP      string `xml:"ip,attr"`
	Message string `xml:"message,attr"`
}

// RegisteredEntry is one entry of "show object registered-ip".
type RegisteredEntry struct {
	IP         string   `xml:"ip,attr"`
	FromAgent  string   `xml:"from_agent,attr"`
	Persistent string   `xml:"persistent,attr"`
	Tags       []string `xml:"tag>member"`
}

// ParseResponse decodes an XML API response.
func ParseResponse(body []byte) (*Response, error) {
	var r Response
	if err := xml.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode PAN-OS response: %w", err)
	}
	if r.Status != "success" && r.Status != "error" {
		return nil, fmt.Errorf("decode PAN-OS response: unexpected status %q", r.Status)
	}
	return &r, nil
}

// Text returns the response's messages on one line, including per-entry
// uid-response messages.
func (r *Response) Text() string {
	var parts []string
	add := func(m *Message) {
		if m == nil {
			return
		}
		if s := strings.TrimSpace(m.Text); s != "" {
			parts = append(parts, s)
		}
		for _, l := range m.Lines {
			if s := strings.TrimSpace(l.Text); s != "" {
				parts = append(parts, s)
			}
			if l.UID != nil {
				for _, e := range append(l.UID.Payload.Unregister, l.UID.Payload.Register...) {
					parts = append(parts, e.IP+": "+e.Message)
				}
			}
		}
	}
	add(r.Msg)
	if r.Result != nil {
		add(r.Result.Msg)
	}
	return strings.Join(strings.Fields(strings.Join(parts, "; ")), " ")
}

// uidEntries returns the per-entry results of an error response to a
// uid-message, nil when it has none.
func (r *Response) uidEntries() []UIDEntryResult {
	var out []UIDEntryResult
	for _, m := range []*Message{r.Msg, resultMsg(r)} {
		if m == nil {
			continue
		}
		for _, l := range m.Lines {
			if l.UID != nil {
				out = append(out, l.UID.Payload.Unregister...)
				out = append(out, l.UID.Payload.Register...)
			}
		}
	}
	return out
}

func resultMsg(r *Response) *Message {
	if r.Result == nil {
		return nil
	}
	return r.Result.Msg
}
