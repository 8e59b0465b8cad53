package schema

import "fmt"

// DefaultMinSuccess is the fewest probes that must pass the recall gate for
// a head ranking to rest on anything: with none, every score is 0 and the
// ranking is only the head order.
const DefaultMinSuccess = 1

// CheckEvidence reports, as an error for the user, a profile whose head
// scores rest on fewer than minSuccess probes that passed the recall gate.
// A heads-only profile imported from another tool (no probes run) is not
// judged here: its scores are whatever that tool measured.
func CheckEvidence(p *Profile, minSuccess int) error {
	pi := p.Probes
	if pi.Run == 0 && pi.Successful == 0 && len(pi.Results) == 0 {
		return nil
	}
	if pi.Successful >= minSuccess {
		return nil
	}
	if pi.Successful == 0 {
		return fmt.Errorf("none of the %d probes passed the recall gate (ROUGE-1 recall > %g), so every head score is 0 and the ranking is only the head order; the model may not retrieve these needles (try --teacher-forced, another --template, or shorter --lengths)", pi.Run, pi.SuccessRecall)
	}
	return fmt.Errorf("only %d of %d probes passed the recall gate, fewer than --min-success %d; the ranking rests on too little", pi.Successful, pi.Run, minSuccess)
}
