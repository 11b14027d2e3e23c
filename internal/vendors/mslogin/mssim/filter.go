package mssim

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Expr is a parsed OData $filter expression. The grammar is the subset the
// simulators accept:
//
//	expr    = and { "or" and }
//	and     = primary { "and" primary }
//	primary = "(" expr ")" | field op literal
//	        | "startswith(" field "," string ")"
//	        | field "/any(" var ":" expr ")"
//	op      = eq | ne | gt | ge | lt | le
//	literal = 'string' (quote doubled inside) | date-time | number | true | false | null
type Expr interface{ isExpr() }

// Compare is "field op literal".
type Compare struct {
	Field string
	Op    string
	Value Literal
}

// StartsWith is "startswith(field,'prefix')".
type StartsWith struct {
	Field  string
	Prefix string
}

// Any is "collection/any(v:body)". Fields in Body are written "v/name".
type Any struct {
	Collection string
	Var        string
	Body       Expr
}

// Logical is "left and right" or "left or right".
type Logical struct {
	Op          string // "and" or "or"
	Left, Right Expr
}

func (Compare) isExpr()    {}
func (StartsWith) isExpr() {}
func (Any) isExpr()        {}
func (Logical) isExpr()    {}

// Literal is a constant in a filter.
type Literal struct {
	Kind string // "string", "datetime", "number", "bool" or "null"
	Text string // the unquoted string, or the literal as written
	Time time.Time
}

// ParseFilter parses a $filter value (already percent-decoded).
func ParseFilter(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("syntax error at position %d: unexpected %q", p.toks[p.pos].at, p.toks[p.pos].text)
	}
	return e, nil
}

// Fields returns every field name e refers to, with "any" bodies written
// as "collection/name".
func Fields(e Expr) []string {
	var out []string
	var walk func(e Expr, prefix map[string]string)
	walk = func(e Expr, vars map[string]string) {
		switch x := e.(type) {
		case Compare:
			out = append(out, resolveVar(x.Field, vars))
		case StartsWith:
			out = append(out, resolveVar(x.Field, vars))
		case Logical:
			walk(x.Left, vars)
			walk(x.Right, vars)
		case Any:
			inner := map[string]string{x.Var: x.Collection}
			for k, v := range vars {
				inner[k] = v
			}
			walk(x.Body, inner)
		}
	}
	walk(e, map[string]string{})
	return out
}

func resolveVar(field string, vars map[string]string) string {
	if v, rest, ok := strings.Cut(field, "/"); ok {
		if coll, known := vars[v]; known {
			return coll + "/" + rest
		}
	}
	return field
}

// Getter returns the values of a field of one record. A collection field
// such as "targetResources/userPrincipalName" may have several.
type Getter func(field string) []string

// Eval reports whether a record matches e. String comparison with eq and ne
// ignores case, as Microsoft Graph and the Defender API do for the
// properties the simulators filter on. Date-times compare as times.
func Eval(e Expr, get Getter) bool {
	return eval(e, get, map[string]string{})
}

func eval(e Expr, get Getter, vars map[string]string) bool {
	switch x := e.(type) {
	case Logical:
		if x.Op == "and" {
			return eval(x.Left, get, vars) && eval(x.Right, get, vars)
		}
		return eval(x.Left, get, vars) || eval(x.Right, get, vars)
	case Any:
		inner := map[string]string{x.Var: x.Collection}
		for k, v := range vars {
			inner[k] = v
		}
		return eval(x.Body, get, inner)
	case StartsWith:
		for _, v := range get(resolveVar(x.Field, vars)) {
			if strings.HasPrefix(strings.ToLower(v), strings.ToLower(x.Prefix)) {
				return true
			}
		}
		return false
	case Compare:
		for _, v := range get(resolveVar(x.Field, vars)) {
			if compare(v, x.Op, x.Value) {
				return true
			}
		}
		return false
	}
	return false
}

func compare(v, op string, lit Literal) bool {
	var c int
	if lit.Kind == "datetime" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return false
		}
		c = t.Compare(lit.Time)
	} else {
		c = strings.Compare(strings.ToLower(v), strings.ToLower(lit.Text))
	}
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

type token struct {
	kind string // "ident", "string", "punct"
	text string
	at   int
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case strings.IndexByte("(),:", c) >= 0:
			toks = append(toks, token{"punct", string(c), i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("syntax error at position %d: unterminated string literal", i)
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			toks = append(toks, token{"string", b.String(), i})
			i = j + 1
		case c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || c == '$' || c == '_' || c == '-'):
			// A date-time literal starts with a digit and contains ":".
			stops := "(),:' "
			if unicode.IsDigit(rune(c)) {
				stops = "(),' "
			}
			j := i
			for j < len(s) && s[j] < 0x80 && strings.IndexByte(stops, s[j]) < 0 {
				j++
			}
			toks = append(toks, token{"ident", s[i:j], i})
			i = j
		default:
			return nil, fmt.Errorf("syntax error at position %d: unexpected character %q", i, c)
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) accept(kind, text string) bool {
	t, ok := p.peek()
	if ok && t.kind == kind && (text == "" || strings.EqualFold(t.text, text)) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(kind, text string) (token, error) {
	t, ok := p.peek()
	if !ok {
		return token{}, fmt.Errorf("syntax error: expected %q at the end", text)
	}
	if t.kind != kind || (text != "" && !strings.EqualFold(t.text, text)) {
		return token{}, fmt.Errorf("syntax error at position %d: expected %s, found %q", t.at, describe(kind, text), t.text)
	}
	p.pos++
	return t, nil
}

func describe(kind, text string) string {
	if text != "" {
		return fmt.Sprintf("%q", text)
	}
	return kind
}

func (p *parser) expr() (Expr, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.accept("ident", "or") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = Logical{Op: "or", Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) and() (Expr, error) {
	left, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.accept("ident", "and") {
		right, err := p.primary()
		if err != nil {
			return nil, err
		}
		left = Logical{Op: "and", Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) primary() (Expr, error) {
	if p.accept("punct", "(") {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("punct", ")"); err != nil {
			return nil, err
		}
		return e, nil
	}

	field, err := p.expect("ident", "")
	if err != nil {
		return nil, err
	}

	// startswith(field,'prefix')
	if strings.EqualFold(field.text, "startswith") {
		if _, err := p.expect("punct", "("); err != nil {
			return nil, err
		}
		f, err := p.expect("ident", "")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("punct", ","); err != nil {
			return nil, err
		}
		prefix, err := p.expect("string", "")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("punct", ")"); err != nil {
			return nil, err
		}
		return StartsWith{Field: f.text, Prefix: prefix.text}, nil
	}

	// collection/any(v:body)
	if coll, ok := strings.CutSuffix(field.text, "/any"); ok {
		if _, err := p.expect("punct", "("); err != nil {
			return nil, err
		}
		v, err := p.expect("ident", "")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("punct", ":"); err != nil {
			return nil, err
		}
		body, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("punct", ")"); err != nil {
			return nil, err
		}
		return Any{Collection: coll, Var: v.text, Body: body}, nil
	}

	op, err := p.expect("ident", "")
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(op.text) {
	case "eq", "ne", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("syntax error at position %d: unknown operator %q", op.at, op.text)
	}
	lit, err := p.literal()
	if err != nil {
		return nil, err
	}
	return Compare{Field: field.text, Op: strings.ToLower(op.text), Value: lit}, nil
}

func (p *parser) literal() (Literal, error) {
	t, ok := p.peek()
	if !ok {
		return Literal{}, fmt.Errorf("syntax error: expected a value at the end")
	}
	p.pos++
	if t.kind == "string" {
		return Literal{Kind: "string", Text: t.text}, nil
	}
	if t.kind != "ident" {
		return Literal{}, fmt.Errorf("syntax error at position %d: expected a value, found %q", t.at, t.text)
	}
	switch strings.ToLower(t.text) {
	case "true", "false":
		return Literal{Kind: "bool", Text: strings.ToLower(t.text)}, nil
	case "null":
		return Literal{Kind: "null", Text: "null"}, nil
	}
	if tm, err := time.Parse(time.RFC3339Nano, t.text); err == nil {
		return Literal{Kind: "datetime", Text: t.text, Time: tm}, nil
	}
	if strings.Trim(t.text, "0123456789.-") == "" {
		return Literal{Kind: "number", Text: t.text}, nil
	}
	return Literal{}, fmt.Errorf("syntax error at position %d: %q is not a valid value (strings are single-quoted)", t.at, t.text)
}
