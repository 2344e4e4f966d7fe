package storetest

import (
	"testing"

	"github.com/mrci/mrci/internal/store"
)

func testAdmissionSettings(t *testing.T, s store.Store) {
	got, err := s.AdmissionSettings(ctx(t))
	if err != nil || got != store.DefaultAdmissionSettings() {
		t.Fatalf("fresh store: %+v, %v; want the defaults", got, err)
	}
	want := store.AdmissionSettings{MaxPending: 7, MaxPendingPerAddr: 2, ConnRatePerAddr: 0.5, ConnBurstPerAddr: 3, LimitLoopback: true}
	for range 2 { // insert, then update in place
		if err := s.SaveAdmissionSettings(ctx(t), want); err != nil {
			t.Fatal(err)
		}
		if got, err = s.AdmissionSettings(ctx(t)); err != nil || got != want {
			t.Fatalf("reload: %+v, %v; want %+v", got, err, want)
		}
		want.MaxPending, want.LimitLoopback = 9, false
	}
	bad := want
	bad.MaxPendingPerAddr = 0
	if err := s.SaveAdmissionSettings(ctx(t), bad); err == nil {
		t.Fatal("a per-address limit of 0 was saved")
	}
	if got, _ := s.AdmissionSettings(ctx(t)); got.MaxPendingPerAddr != 2 {
		t.Fatalf("refused save changed the settings: %+v", got)
	}
}
