package panossim

import (
	"encoding/xml"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// uidMessage is the simulator's own view of a uid-message.
type uidMessage struct {
	XMLName xml.Name `xml:"uid-message"`
	Version string   `xml:"version"`
	Type    string   `xml:"type"`
	Payload struct {
		Register   *entrySet `xml:"register"`
		Unregister *entrySet `xml:"unregister"`
	} `xml:"payload"`
}

type entrySet struct {
	Entries []struct {
		IP      string `xml:"ip,attr"`
		Members []struct {
			Timeout string `xml:"timeout,attr"`
			Name    string `xml:",chardata"`
		} `xml:"tag>member"`
	} `xml:"entry"`
}

// entryError is a per-entry failure of a uid-message.
type entryError struct {
	set, ip, message string
}

// userID applies a uid-message: unregister entries first, then register.
// Registering a mapping that exists is a no-op, as PAN-OS documents.
func (s *Server) userID(w http.ResponseWriter, vsys, cmd string) {
	var msg uidMessage
	if cmd == "" {
		writeXML(w, http.StatusOK, errorResponse("18", "Malformed command: missing cmd"))
		return
	}
	if err := xml.Unmarshal([]byte(cmd), &msg); err != nil {
		writeXML(w, http.StatusOK, errorResponse("18", "Malformed command: "+err.Error()))
		return
	}
	if msg.Type != "update" || (msg.Payload.Register == nil && msg.Payload.Unregister == nil) {
		writeXML(w, http.StatusOK, errorResponse("18", "Malformed command: expected type update with register or unregister"))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	table := s.tags[vsys]
	var failures []entryError

	if set := msg.Payload.Unregister; set != nil {
		for _, e := range set.Entries {
			ip, ok := s.canonical(e.IP)
			if !ok {
				failures = append(failures, entryError{"unregister", e.IP, "Invalid IP address"})
				continue
			}
			for _, m := range e.Members {
				if _, exists := table[ip][m.Name]; !exists {
					// NOTE: PAN-OS does not document this message; the shape
					// follows its per-entry User-ID errors.
					failures = append(failures, entryError{"unregister", e.IP, "Delete mapping failed"})
					continue
				}
				delete(table[ip], m.Name)
			}
			if len(table[ip]) == 0 {
				delete(table, ip)
			}
		}
	}

	if set := msg.Payload.Register; set != nil {
		now := s.cfg.Now()
		for _, e := range set.Entries {
			ip, ok := s.canonical(e.IP)
			if !ok {
				failures = append(failures, entryError{"register", e.IP, "Invalid IP address"})
				continue
			}
			for _, m := range e.Members {
				timeout, err := strconv.Atoi(strings.TrimSpace(m.Timeout))
				if m.Timeout == "" {
					timeout, err = 0, nil
				}
				switch {
				case !validTag(m.Name):
					failures = append(failures, entryError{"register", e.IP, "Invalid tag " + m.Name})
					continue
				case err != nil || timeout < 0 || timeout > maxTimeoutSecs:
					failures = append(failures, entryError{"register", e.IP, "Invalid timeout " + m.Timeout})
					continue
				}
				if table[ip] == nil {
					table[ip] = map[string]time.Time{}
				}
				if _, exists := table[ip][m.Name]; !exists && len(table[ip]) >= maxTagsPerIP {
					failures = append(failures, entryError{"register", e.IP, "Maximum number of tags reached"})
					continue
				}
				var until time.Time
				if timeout > 0 {
					until = now.Add(time.Duration(timeout) * time.Second)
				}
				table[ip][m.Name] = until
			}
		}
	}

	if len(failures) > 0 {
		writeXML(w, http.StatusOK, `<response status="error"><msg><line>`+uidResponse(failures)+`</line></msg></response>`)
		return
	}
	writeXML(w, http.StatusOK, `<response status="success"><result>`+uidResponse(nil)+`</result></response>`)
}

func uidResponse(failures []entryError) string {
	type entry struct {
		IP      string `xml:"ip,attr"`
		Message string `xml:"message,attr"`
	}
	var out struct {
		XMLName xml.Name `xml:"uid-response"`
		Version string   `xml:"version"`
		Payload struct {
			Unregister []entry `xml:"unregister>entry"`
			Register   []entry `xml:"register>entry"`
		} `xml:"payload"`
	}
	out.Version = "2.0"
	for _, f := range failures {
		if f.set == "unregister" {
			out.Payload.Unregister = append(out.Payload.Unregister, entry{f.ip, f.message})
		} else {
			out.Payload.Register = append(out.Payload.Register, entry{f.ip, f.message})
		}
	}
	b, _ := xml.Marshal(out)
	return string(b)
}

// opCommand is the simulator's view of the one op command it serves.
type opCommand struct {
	XMLName xml.Name `xml:"show"`
	Object  *struct {
		RegisteredIP *struct {
			All *struct{} `xml:"all"`
			Tag *struct {
				Entry struct {
					Name string `xml:"name,attr"`
				} `xml:"entry"`
			} `xml:"tag"`
			IP         string `xml:"ip"`
			Limit      string `xml:"limit"`
			StartPoint string `xml:"start-point"`
		} `xml:"registered-ip"`
	} `xml:"object"`
}

// op serves "show object registered-ip" filtered by tag or ip, all when
// neither is set, with limit and 1-based start-point paging.
func (s *Server) op(w http.ResponseWriter, vsys, cmd string) {
	var c opCommand
	if err := xml.Unmarshal([]byte(cmd), &c); err != nil {
		writeXML(w, http.StatusOK, errorResponse("18", "Malformed command: "+err.Error()))
		return
	}
	if c.Object == nil || c.Object.RegisteredIP == nil {
		writeXML(w, http.StatusOK, errorResponse("17", "show -> unexpected command"))
		return
	}
	q := c.Object.RegisteredIP
	limit, start := 0, 1
	var err error
	if q.Limit != "" {
		if limit, err = strconv.Atoi(q.Limit); err != nil || limit < 1 {
			writeXML(w, http.StatusOK, errorResponse("17", "limit "+q.Limit+" is invalid"))
			return
		}
	}
	if q.StartPoint != "" {
		if start, err = strconv.Atoi(q.StartPoint); err != nil || start < 1 {
			writeXML(w, http.StatusOK, errorResponse("17", "start-point "+q.StartPoint+" is invalid"))
			return
		}
	}

	s.mu.Lock()
	s.expire()
	type row struct {
		ip   string
		tags []string
	}
	var rows []row
	for ip, tags := range s.tags[vsys] {
		if q.IP != "" && q.IP != ip {
			continue
		}
		var names []string
		for t := range tags {
			names = append(names, t)
		}
		sort.Strings(names)
		if q.Tag != nil && !contains(names, q.Tag.Entry.Name) {
			continue
		}
		rows = append(rows, row{ip, names})
	}
	s.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].ip < rows[j].ip })

	if start-1 >= len(rows) {
		rows = nil
	} else {
		rows = rows[start-1:]
	}
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}

	type entry struct {
		IP         string   `xml:"ip,attr"`
		FromAgent  string   `xml:"from_agent,attr"`
		Persistent string   `xml:"persistent,attr"`
		Tags       []string `xml:"tag>member"`
	}
	var result struct {
		XMLName xml.Name `xml:"response"`
		Status  string   `xml:"status,attr"`
		Entries []entry  `xml:"result>entry"`
		Count   int      `xml:"result>count"`
	}
	result.Status = "success"
	for _, r := range rows {
		result.Entries = append(result.Entries, entry{IP: r.ip, FromAgent: "0", Persistent: "1", Tags: r.tags})
	}
	result.Count = len(result.Entries)
	b, _ := xml.Marshal(result)
	writeXML(w, http.StatusOK, string(b))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
