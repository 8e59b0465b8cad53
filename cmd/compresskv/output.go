package main

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// newTable starts a table on w with its headers as written (tablewriter
// would upper-case them).
func newTable(w io.Writer) *tablewriter.Table {
	return tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
}

// writeJSON writes v as indented JSON and a newline: the --json output of
// the commands that print one report.
func writeJSON(w io.Writer, v any) error {
	return encodeJSON(w, v, "  ")
}

// writeJSONLine writes v as one line of compact JSON (JSON Lines, id lists).
func writeJSONLine(w io.Writer, v any) error {
	return encodeJSON(w, v, "")
}

// encodeJSON leaves <, > and & unescaped so that special tokens and chat
// templates stay readable, and writes nothing when v cannot be encoded.
func encodeJSON(w io.Writer, v any, indent string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
