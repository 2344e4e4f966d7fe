package web_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/wire"
	"github.com/mrci/mrci/pkg/client"
)

// jsWire is what the browser's wire.js makes of the bytes internal/wire
// encodes, and the bytes it encodes itself.
type jsWire struct {
	Texts  []string
	NewCmd struct {
		ID, GenFile                      int
		Name, Library, Summary, IO, Long string
	}
	Peer   struct{ SessionID, UserID, UserName, AppName, DisplayName string }
	MyInfo struct {
		UserName, Email string
		Rank            uint32
		EmailVerified   bool
	}
	Stat struct {
		SessionID string
		Open      []struct {
			Channel string
			Sub     int
		}
		Disconnected bool
	}
	Member struct {
		ChannelID, UserID                  string
		Pending                            bool
		Level                              int
		UserName, DisplayName, ChannelName string
	}
	Header string
	Frame  string
	Quotes []string
}

// The JavaScript wire code agrees with internal/wire byte for byte: texts
// (surrogate pairs, BOM, U+0000, odd byte, unpaired surrogate), every
// structured payload the console reads, the client header, frames and
// argument quoting.
func TestWireJSMatchesGo(t *testing.T) {
	h := hosttest.Start(t)
	c := startConsole(t, h, nil)
	tab := browser(t)
	run(t, tab, "navigate", chromedp.Navigate(c.URL+"/"))

	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	texts := [][]byte{
		wire.EncodeText("héllo wörld 😀 <b>&amp;"),
		append([]byte{0xff, 0xfe}, wire.EncodeText("after BOM")...),
		append(wire.EncodeText("a\x00b"), 'x'), // U+0000 dropped, odd byte ignored
		{0x3d, 0xd8, 0x41, 0x00},               // unpaired high surrogate, then "A"
	}
	nc := wire.NewCmd{ID: 300, GenFile: 1, Name: "Open_Sub_Ch", Library: "MRCI host", Summary: "open ü", IO: "[text]", Long: "long 😀 text"}
	var peer wire.PeerInfo
	for i := range peer.SessionID {
		peer.SessionID[i] = byte(i)
	}
	for i := range peer.UserID {
		peer.UserID[i] = byte(0xa0 + i)
	}
	peer.UserName, peer.AppName, peer.DisplayName = "alice", "Cmdr 2.2", "Älice 😀"
	my := wire.MyInfo{Peer: peer, Email: "a@example.com", Rank: 70000, EmailVerified: true}
	stat := wire.PeerStat{SessionID: peer.SessionID, Disconnected: true}
	stat.Open[1] = wire.SubChannel{Channel: 1 << 60, Sub: 7}
	stat.Open[4] = wire.SubChannel{Channel: 3, Sub: 0}
	mem := wire.ChMemberInfo{ChannelID: 1<<63 + 5, UserID: peer.UserID, Pending: true, Level: 3, UserName: "bob", DisplayName: "", ChannelName: "chan ü"}
	quotes := []string{"plain", "two words", `it's`, `say "hi"`, `trail\`, "tab\there", ""}
	var texts64 []string
	for _, tx := range texts {
		texts64 = append(texts64, b64(tx))
	}
	script := fmt.Sprintf(`(async () => {
  const w = await import("/wire.js");
  const b = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const b64 = (u) => btoa(String.fromCharCode(...u));
  return {
    Texts: %s.map((s) => w.decodeText(b(s))),
    NewCmd: w.parseNewCmd(b(%s)),
    Peer: w.parsePeerInfo(b(%s)),
    MyInfo: w.parseMyInfo(b(%s)),
    Stat: w.parsePeerStat(b(%s)),
    Member: w.parseChMemberInfo(b(%s)),
    Header: b64(w.clientHeader("app ü😀", "host.example")),
    Frame: b64(w.encodeFrame(2, 300, 7, w.encodeText("x😀"))),
    Quotes: %s.map(w.quoteArg),
  };
})()`, js(texts64), js(b64(nc.Marshal())), js(b64(peer.Marshal())), js(b64(my.Marshal())),
		js(b64(stat.Marshal())), js(b64(mem.Marshal())), js(quotes))
	got := run(t, tab, "wire.js", chromedp.Evaluate[jsWire](script, chromedp.EvalAwaitPromise))

	for i, tx := range texts {
		if want := wire.DecodeText(tx); got.Texts[i] != want {
			t.Errorf("decodeText(% x) = %q, Go %q", tx, got.Texts[i], want)
		}
	}
	if g := got.NewCmd; g.ID != 300 || g.GenFile != 1 || g.Name != "open_sub_ch" || g.Library != nc.Library ||
		g.Summary != nc.Summary || g.IO != nc.IO || g.Long != nc.Long {
		t.Errorf("parseNewCmd = %+v, want %+v (name lower-cased)", g, nc)
	}
	if g := got.Peer; g.SessionID != peer.SessionID.String() || g.UserID != peer.UserID.String() ||
		g.UserName != peer.UserName || g.AppName != peer.AppName || g.DisplayName != peer.DisplayName {
		t.Errorf("parsePeerInfo = %+v, want %+v", g, peer)
	}
	if g := got.MyInfo; g.UserName != "alice" || g.Email != my.Email || g.Rank != my.Rank || !g.EmailVerified {
		t.Errorf("parseMyInfo = %+v, want %+v", g, my)
	}
	wantOpen := fmt.Sprint([]string{fmt.Sprint(uint64(1<<60), "/7"), "3/0"})
	var gotOpen []string
	for _, o := range got.Stat.Open {
		gotOpen = append(gotOpen, fmt.Sprint(o.Channel, "/", o.Sub))
	}
	if got.Stat.SessionID != hex.EncodeToString(stat.SessionID[:]) || fmt.Sprint(gotOpen) != wantOpen || !got.Stat.Disconnected {
		t.Errorf("parsePeerStat = %+v, want %+v", got.Stat, stat)
	}
	if g := got.Member; g.ChannelID != fmt.Sprint(mem.ChannelID) || g.UserID != mem.UserID.String() || !g.Pending ||
		g.Level != 3 || g.UserName != "bob" || g.DisplayName != "" || g.ChannelName != mem.ChannelName {
		t.Errorf("parseChMemberInfo = %+v, want %+v", g, mem)
	}
	hdrBytes, _ := base64.StdEncoding.DecodeString(got.Header)
	if ch, err := wire.ParseClientHeader(hdrBytes); err != nil || len(hdrBytes) != wire.ClientHeaderLen ||
		ch != (wire.ClientHeader{AppName: "app ü😀", CommonName: "host.example"}) {
		t.Errorf("clientHeader: %d bytes, %+v, %v", len(hdrBytes), ch, err)
	}
	frameBytes, _ := base64.StdEncoding.DecodeString(got.Frame)
	want := wire.EncodeFrame(wire.Frame{Type: wire.TypeText, Cmd: 300, Branch: 7, Payload: wire.EncodeText("x😀")})
	if !reflect.DeepEqual(frameBytes, want) {
		t.Errorf("encodeFrame = % x, Go % x", frameBytes, want)
	}
	for i, q := range quotes {
		if want := client.QuoteArg(q); got.Quotes[i] != want {
			t.Errorf("quoteArg(%q) = %q, Go %q", q, got.Quotes[i], want)
		}
		if words := wire.ParseArgs(got.Quotes[i], -1); q != "" && (len(words) != 1 || words[0] != q) {
			t.Errorf("quoteArg(%q) = %q reads back as %q", q, got.Quotes[i], strings.Join(words, "|"))
		}
	}
}
