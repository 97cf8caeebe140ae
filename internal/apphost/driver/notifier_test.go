package driver_test

import (
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

// A reader that falls behind gets each app's latest state, in the order the
// apps changed; Close delivers what was published, then closes the channel.
func TestNotifierCoalescesAndCloses(t *testing.T) {
	n := driver.NewNotifier()
	// Nobody reads yet: Publish must not block.
	for i := range 1000 {
		n.Publish(driver.State{Name: "a", Restarts: i})
		n.Publish(driver.State{Name: "b", Restarts: i})
	}
	n.Close()
	n.Publish(driver.State{Name: "c"}) // after Close: dropped
	last := map[string]int{}
	count := 0
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s, ok := <-n.C():
			if !ok {
				if last["a"] != 999 || last["b"] != 999 {
					t.Errorf("latest states %v, want 999 each", last)
				}
				if _, ok := last["c"]; ok {
					t.Error("a state published after Close was delivered")
				}
				if count > 6 {
					t.Errorf("%d states delivered; the backlog was not coalesced", count)
				}
				return
			}
			count++
			last[s.Name] = s.Restarts
		case <-timeout:
			t.Fatal("the channel was not closed")
		}
	}
}
