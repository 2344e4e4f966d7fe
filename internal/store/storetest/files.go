package storetest

import (
	"testing"

	"github.com/mrci/mrci/internal/store"
)

// testFilesSettings: a fresh store has the defaults; a save is read back
// exactly and replaces the previous row; a negative quota is refused and
// changes nothing.
func testFilesSettings(t *testing.T, s store.Store) {
	got, err := s.FilesSettings(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got != store.DefaultFilesSettings() {
		t.Fatalf("fresh files settings = %+v, want defaults", got)
	}
	want := store.FilesSettings{Root: "/srv/mrci files/ü", Homes: true, Quota: 5 << 40, Unconfined: false}
	for range 2 {
		if err := s.SaveFilesSettings(ctx(t), want); err != nil {
			t.Fatal(err)
		}
	}
	if got, err = s.FilesSettings(ctx(t)); err != nil || got != want {
		t.Fatalf("files settings = %+v, %v; want %+v", got, err, want)
	}
	if err := s.SaveFilesSettings(ctx(t), store.FilesSettings{Quota: -1}); err == nil {
		t.Fatal("negative quota saved")
	}
	want2 := store.FilesSettings{Unconfined: true}
	if err := s.SaveFilesSettings(ctx(t), want2); err != nil {
		t.Fatal(err)
	}
	if got, err = s.FilesSettings(ctx(t)); err != nil || got != want2 {
		t.Fatalf("files settings = %+v, %v; want %+v", got, err, want2)
	}
}
