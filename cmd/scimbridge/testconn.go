package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/scimbridge/scimbridge/ldapsource"
)

func cmdTestConnection(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("test-connection", flag.ContinueOnError)
	fs.SetOutput(stderr)
	settingsFile := fs.String("settings", "", "settings document (JSON)")
	asJSON := fs.Bool("json", false, "print the admin API's test answer object")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if *settingsFile == "" {
		return &exitError{code: 2, msg: "test-connection needs --settings FILE"}
	}
	s, err := readSettingsFile(*settingsFile)
	if err != nil {
		return err
	}
	res := ldapsource.Test(ctx, s, true)
	if *asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		for _, st := range res.Steps {
			if st.OK {
				fmt.Fprintf(stdout, "%-6s ok    %s (%d ms)\n", st.Step, st.Message, st.DurationMs)
			} else {
				fmt.Fprintf(stdout, "%-6s FAIL  %s (%d ms)\n", st.Step, st.Message, st.DurationMs)
			}
		}
	}
	if !res.OK {
		return &exitError{code: 1}
	}
	return nil
}
